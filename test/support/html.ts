/**
 * The form field block (`<div class="field">` or `<fieldset class="field">`) around the element
 * with this id or name, so a test can tell that a message stands beside that field.
 */
export function fieldBlock(html: string, idOrName: string): string {
  let at = html.indexOf(`id="${idOrName}"`);
  if (at < 0) at = html.indexOf(`name="${idOrName}"`);
  if (at < 0) throw new Error(`no field ${idOrName} on the page`);
  const start = Math.max(html.lastIndexOf('<div class="field', at), html.lastIndexOf('<fieldset class="field', at));
  if (start < 0) throw new Error(`field ${idOrName} is not inside a field block`);
  const closing = html.startsWith('<fieldset', start) ? '</fieldset>' : '</div>';
  const end = html.indexOf(closing, at);
  return html.slice(start, end + closing.length);
}

/** The text of the field errors in a block. */
export function fieldErrors(block: string): string[] {
  return [...block.matchAll(/<p class="field-error">([^<]*)<\/p>/g)].map((match) => decode(match[1]));
}

export function fieldWarnings(block: string): string[] {
  return [...block.matchAll(/<p class="field-warning">([^<]*)<\/p>/g)].map((match) => decode(match[1]));
}

export function flashText(html: string): string {
  const match = /<div class="flash[^"]*"[^>]*>([^<]*)<\/div>/.exec(html);
  return match ? decode(match[1]) : '';
}

/** EJS escapes & < > " '; tests compare with what a person reads. */
export function decode(text: string): string {
  return text.replace(/&#39;/g, "'").replace(/&#34;/g, '"').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
