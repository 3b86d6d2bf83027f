import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mixRefusal, sizeRefusal, sniffMediaType, MB } from '../../src/media/media-kinds';
import { checkRecordMedia, type MediaSettings } from '../../src/media/record-media';
import { gif, jpeg, mp4, png, putMedia, webp } from '../support/media-files';

describe('media checks before any upload', () => {
  let root: string;
  let settings: MediaSettings;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kbts-media-'));
    settings = { mediaDir: path.join(root, 'media'), maxBytes: 25 * MB };
    fs.mkdirSync(settings.mediaDir);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const refusal = async (value: unknown) => {
    const checked = await checkRecordMedia(value, settings);
    assert.equal(checked.ok, false, 'refused');
    return (checked as { reason: string }).reason;
  };

  it('tells the type from the content, whatever the name', () => {
    assert.equal(sniffMediaType(png())?.mimeType, 'image/png');
    assert.equal(sniffMediaType(jpeg())?.mimeType, 'image/jpeg');
    assert.equal(sniffMediaType(webp())?.mimeType, 'image/webp');
    assert.equal(sniffMediaType(gif())?.kind, 'gif');
    assert.equal(sniffMediaType(mp4())?.mimeType, 'video/mp4');
    assert.equal(sniffMediaType(mp4(64, 'qt  '))?.mimeType, 'video/quicktime');
    assert.equal(sniffMediaType(Buffer.from('just some text, not a picture')), null);
  });

  it('holds each type to X\'s limit and to the product\'s cap', () => {
    const image = sniffMediaType(png())!;
    const video = sniffMediaType(mp4())!;
    assert.equal(sizeRefusal(image, 5 * MB, 25 * MB), null);
    assert.equal(sizeRefusal(image, 6 * MB, 25 * MB), 'the PNG image is 6 MB; X takes at most 5 MB for an image');
    assert.equal(sizeRefusal(sniffMediaType(gif())!, 16 * MB, 25 * MB), 'the GIF is 16 MB; X takes at most 15 MB for a GIF');
    assert.equal(sizeRefusal(video, 26 * MB, 25 * MB), 'the MP4 video is 26 MB; this installation posts files of at most 25 MB (KBTS_MEDIA_MAX_MB)');
    assert.equal(sizeRefusal(video, 513 * MB, 1024 * MB), 'the MP4 video is 513 MB; X takes at most 512 MB for a video');
  });

  it('allows up to 4 images, or 1 GIF, or 1 video in a post', () => {
    assert.equal(mixRefusal(['image', 'image', 'image', 'image']), null);
    assert.equal(mixRefusal(['video']), null);
    assert.equal(mixRefusal(['image', 'image', 'image', 'image', 'image']), 'a post takes at most 4 images; this record has 5');
    assert.equal(mixRefusal(['image', 'gif']), 'a post takes up to 4 images, or 1 GIF, or 1 video; this record has 1 image and 1 GIF');
    assert.equal(mixRefusal(['video', 'video']), 'a post takes up to 4 images, or 1 GIF, or 1 video; this record has 2 videos');
  });

  it('accepts paths inside the media folder, one per line, and reads only their first bytes', async () => {
    putMedia(settings.mediaDir, 'a.png', png());
    putMedia(settings.mediaDir, 'sub/b.jpg', jpeg());
    const checked = await checkRecordMedia('a.png\r\n\n  sub/b.jpg  \n', settings);
    assert.ok(checked.ok);
    assert.deepEqual(checked.files.map((file) => [file.label, file.type.mimeType]), [["'a.png'", 'image/png'], ["'sub/b.jpg'", 'image/jpeg']]);
  });

  it('refuses a path that leaves the media folder: ../, absolute, or a link out', async () => {
    fs.writeFileSync(path.join(root, 'outside.png'), png());
    assert.match(await refusal('../outside.png'), /^media: '..\/outside.png' leads out of the media folder/);
    assert.match(await refusal('sub/../../outside.png'), /leads out of the media folder/);
    assert.match(await refusal(path.join(root, 'outside.png')), /is an absolute path; write paths relative to the media folder/);
    fs.symlinkSync(path.join(root, 'outside.png'), path.join(settings.mediaDir, 'link.png'));
    assert.match(await refusal('link.png'), /^media: 'link.png' is a link to a file outside the media folder/);
  });

  it('refuses a missing file, a folder, a file of another type, and an empty one', async () => {
    assert.match(await refusal('nothere.jpg'), /^media: there is no file 'nothere.jpg' in the media folder/);
    fs.mkdirSync(path.join(settings.mediaDir, 'folder.png'));
    assert.match(await refusal('folder.png'), /'folder.png' is (not a file|a folder)/);
    putMedia(settings.mediaDir, 'notes.jpg', Buffer.from('a text file with a picture\'s name'));
    assert.match(await refusal('notes.jpg'), /^media: 'notes.jpg' is not a file X takes: its content is not JPEG, PNG, WEBP, GIF, MP4 or MOV \(the name does not count\)$/);
    putMedia(settings.mediaDir, 'empty.png', Buffer.alloc(0));
    assert.match(await refusal('empty.png'), /'empty.png' is not a file X takes/);
  });

  it('refuses an unreadable file with the reason', async function () {
    // Root reads any file whatever its mode: the refusal can only be seen as another user.
    if (process.getuid?.() === 0) this.skip();
    putMedia(settings.mediaDir, 'secret.png', png());
    fs.chmodSync(path.join(settings.mediaDir, 'secret.png'), 0);
    assert.match(await refusal('secret.png'), /^media: the file 'secret.png' cannot be read \(permission denied\)$/);
  });

  it('refuses files over the limits and a mix X does not take', async () => {
    putMedia(settings.mediaDir, 'big.png', png(6 * MB));
    assert.match(await refusal('big.png'), /^media: 'big.png': the PNG image is 6 MB; X takes at most 5 MB for an image$/);
    putMedia(settings.mediaDir, 'clip.mp4', mp4(2 * MB));
    assert.match(await checkRecordMedia('clip.mp4', { ...settings, maxBytes: 1 * MB }).then((c) => (c as { reason: string }).reason), /KBTS_MEDIA_MAX_MB/);
    putMedia(settings.mediaDir, 'a.png', png());
    putMedia(settings.mediaDir, 'wave.gif', gif());
    assert.match(await refusal('a.png\nwave.gif'), /^media: a post takes up to 4 images, or 1 GIF, or 1 video; this record has 1 image and 1 GIF$/);
    assert.match(await refusal('a.png\na.png\na.png\na.png\na.png'), /at most 4 images; this record has 5/);
  });

  it('takes a BLOB\'s bytes, checked the same way', async () => {
    const checked = await checkRecordMedia(png(), settings);
    assert.ok(checked.ok);
    assert.equal(checked.files[0].source, 'blob');
    assert.match(await refusal(Buffer.from('plain text in a BLOB')), /^media: the BLOB is not a file X takes/);
    assert.deepEqual(await checkRecordMedia(null, settings), { ok: true, files: [] });
    assert.deepEqual(await checkRecordMedia('  \n', settings), { ok: true, files: [] });
  });
});
