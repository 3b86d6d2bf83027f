// twitter-text is the reference implementation of X's weighted length but ships no types;
// everything else in the project goes through this module.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const twitterText: { parseTweet(text: string): { weightedLength: number; valid: boolean } } = require('twitter-text');

export const MAX_TWEET_WEIGHT = 280;

export function weightedLength(text: string): number {
  return twitterText.parseTweet(text).weightedLength;
}
