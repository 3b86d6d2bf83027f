// twitter-text is X's own reference for what counts as a URL in a post (it ships no types). This
// file is also bundled for the record form's counter (scripts/browser-entry.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const twitterText: { extractUrls(text: string): string[] } = require('twitter-text');

/** Whether X bills a post of this text at the URL price: it contains a URL as X finds them. */
export function containsUrl(text: unknown): boolean {
  // Every URL twitter-text finds has a dot in its domain; most posts have none, and are spared its expressions.
  return typeof text === 'string' && text.includes('.') && twitterText.extractUrls(text).length > 0;
}
