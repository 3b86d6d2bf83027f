import type { XMedia } from './x-client';

/**
 * A post's media from its `attachments.media_keys` and the `includes.media` of the answer (or of a
 * webhook delivery), read defensively: a key without its include, or a malformed item, is left out.
 */
export function attachedMedia(attachments: unknown, includedMedia: unknown): XMedia[] {
  const keys = (attachments as { media_keys?: unknown } | null | undefined)?.media_keys;
  if (!Array.isArray(keys) || !Array.isArray(includedMedia)) return [];
  const str = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);
  const byKey = new Map<string, Record<string, unknown>>();
  for (const item of includedMedia as unknown[]) {
    const key = item && typeof item === 'object' ? str((item as Record<string, unknown>).media_key) : null;
    if (key) byKey.set(key, item as Record<string, unknown>);
  }
  return keys.flatMap((key) => {
    const item = typeof key === 'string' ? byKey.get(key) : undefined;
    const type = item ? str(item.type) : null;
    return item && type ? [{ type, url: str(item.url), previewImageUrl: str(item.preview_image_url) }] : [];
  });
}
