import assert from 'node:assert/strict';
import fs from 'node:fs';
import { retryRecords } from '../../src/setup/integration-setup';
import { describeEachDatabase } from '../support/test-env';
import { gif, jpeg, mp4, png, putMedia } from '../support/media-files';
import { callsTo, createMediaWorld, emulatorUploads as uploads, INSERT_ARTICLE as INSERT, untilDue, type MediaWorld } from '../support/media-world';

describeEachDatabase('media in posts', (database) => {
  let media: MediaWorld;
  afterEach(async () => media.world.close());

  /** A world with one record of one picture, and a fault rule on the emulator. */
  async function pictureRecordWithFault(text: string, fault: Record<string, unknown>): Promise<void> {
    media = await createMediaWorld(database);
    putMedia(media.mediaDir, 'a.png', png());
    await media.world.sql(INSERT, [text, text, 'Yes', 'a.png']);
    await media.world.control('POST', '/faults', { rules: [fault] });
  }

  it('uploads a record\'s images and posts them with its tweet', async () => {
    media = await createMediaWorld(database);
    putMedia(media.mediaDir, 'a.png', png());
    putMedia(media.mediaDir, 'photos/b.jpg', jpeg());
    await media.world.sql(INSERT, ['two', 'Two pictures', 'Yes', 'a.png\nphotos/b.jpg\n']);
    const summary = await media.world.pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.published, 1);
    const [tweet] = await media.world.tweetsBy('kb_news') as Array<{ text: string; media?: Array<{ type: string }> }>;
    assert.equal(tweet.text, 'Two pictures');
    assert.deepEqual(tweet.media?.map((item) => item.type), ['photo', 'photo']);
    assert.deepEqual((await uploads(media.world)).map((upload) => upload.media_type), ['image/png', 'image/jpeg']);
    const kept = await media.world.sql('SELECT position, kind, expires_at FROM kbts_media_uploads ORDER BY position');
    assert.deepEqual(kept.map((row) => [row.position, row.kind]), [[0, 'image'], [1, 'image']]);
  });

  it('posts a GIF', async () => {
    media = await createMediaWorld(database);
    putMedia(media.mediaDir, 'wave.gif', gif());
    await media.world.sql(INSERT, ['gif', 'A wave', 'Yes', 'wave.gif']);
    assert.equal((await media.world.pollOnce()).published, 1);
    const [tweet] = await media.world.tweetsBy('kb_news') as Array<{ media?: Array<{ type: string }> }>;
    assert.deepEqual(tweet.media?.map((item) => item.type), ['animated_gif']);
  });

  it('uploads a video in chunks and waits for its processing before the post', async () => {
    media = await createMediaWorld(database);
    await media.world.control('POST', '/media/behaviour', { video_processing_ms: 1500 });
    // 5 MB: three chunks of at most 2 MB.
    putMedia(media.mediaDir, 'clip.mp4', mp4(5 * 1024 * 1024));
    await media.world.sql(INSERT, ['video', 'A clip', 'Yes', 'clip.mp4']);
    const summary = await media.world.pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.published, 1);
    const [upload] = await uploads(media.world);
    assert.equal(upload.segments, 3);
    assert.equal(upload.state, 'succeeded');
    assert.ok(upload.states_reported.length >= 1, 'STATUS was asked');
    assert.equal(upload.states_reported.at(-1), 'succeeded', `the post waited for the end of processing: ${upload.states_reported.join(', ')}`);
    const [tweet] = await media.world.tweetsBy('kb_news') as Array<{ media?: Array<{ type: string }> }>;
    assert.deepEqual(tweet.media?.map((item) => item.type), ['video']);
  });

  it('posts the bytes of a BLOB media field', async () => {
    media = await createMediaWorld(database, 'bytes');
    await media.world.sql(INSERT, ['blob', 'From the database', 'Yes', png(100)]);
    const summary = await media.world.pollOnce();
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.published, 1);
    assert.deepEqual((await uploads(media.world)).map((upload) => upload.media_type), ['image/png']);
    const [tweet] = await media.world.tweetsBy('kb_news') as Array<{ media?: Array<{ type: string }> }>;
    assert.deepEqual(tweet.media?.map((item) => item.type), ['photo']);
  });

  it('posts once when the answer to the post is lost after a successful upload', async () => {
    await pictureRecordWithFault('Lost answer', { endpoint: 'POST /2/tweets', kind: 'lost_response', count: 1 });
    const first = await media.world.pollOnce();
    const second = await media.world.pollOnce();
    assert.equal(first.published + second.published, 1);
    const tweets = await media.world.tweetsBy('kb_news');
    assert.equal(tweets.length, 1, 'one post, found again by reconciliation');
    assert.equal(await callsTo(media.world, 'POST /2/tweets'), 1, 'never posted again');
    const [publication] = await media.world.sql('SELECT state, tweet_id FROM kbts_publications');
    assert.deepEqual([publication.state, publication.tweet_id], ['sent', tweets[0].id]);
  });

  it('uploads again after a lost answer on finalize, and posts once', async () => {
    await pictureRecordWithFault('Lost finalize', { endpoint: 'POST /2/media/upload/:id/finalize', kind: 'lost_response', count: 1 });
    const first = await media.world.pollOnce();
    assert.equal(first.deferred, 1, 'nothing was posted: the record waits for its next attempt');
    const [waiting] = await media.world.sql('SELECT state, reason FROM kbts_publications');
    assert.equal(waiting.state, 'pending');
    assert.match(waiting.reason, /could not prepare the post/);
    await untilDue(media.world);
    assert.equal((await media.world.pollOnce()).published, 1);
    assert.equal(await callsTo(media.world, 'POST /2/media/upload/initialize'), 2, 'the upload was made again');
    assert.equal((await media.world.tweetsBy('kb_news')).length, 1);
  });

  it('fails the record with the reason when X cannot process its video, and posts it once retried', async () => {
    media = await createMediaWorld(database);
    await media.world.control('POST', '/media/behaviour', { video_processing_ms: 0 });
    putMedia(media.mediaDir, 'clip.mp4', mp4(4096));
    await media.world.sql(INSERT, ['broken', 'A broken clip', 'Yes', 'clip.mp4']);
    await media.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/media/upload/:id/finalize', kind: 'processing_failed', count: 1 }] });
    assert.equal((await media.world.pollOnce()).failed, 1);
    const [failed] = await media.world.sql('SELECT state, reason, record_key FROM kbts_publications');
    assert.equal(failed.state, 'failed');
    assert.match(failed.reason, /^X could not process the MP4 video 'clip.mp4'/);
    assert.equal(await callsTo(media.world, 'POST /2/tweets'), 0);
    await media.world.asNewProcess((services) => retryRecords(services.integrationSetup, media.integrationId, String(failed.record_key)));
    assert.equal((await media.world.pollOnce()).published, 1);
    assert.equal((await media.world.tweetsBy('kb_news')).length, 1);
  });

  it('uploads again when X no longer knows the kept media ids (expired on its clock), and posts once', async () => {
    // Every attempt of the first run is refused without a post: the record waits, its upload kept.
    await pictureRecordWithFault('Expired ids', { endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 3 });
    assert.equal((await media.world.pollOnce()).deferred, 1);
    assert.equal(Number((await media.world.sql('SELECT COUNT(*) AS n FROM kbts_media_uploads'))[0].n), 1);
    await untilDue(media.world);
    // A day and more on X's clock: the media id expired there.
    await media.world.setEmulatorClock({ advance_ms: 25 * 60 * 60 * 1000 });
    const second = await media.world.pollOnce();
    assert.deepEqual(second.errors, []);
    assert.equal(second.published, 1);
    assert.equal(await callsTo(media.world, 'POST /2/media/upload/initialize'), 2, 'uploaded again after the refusal');
    const tweets = await media.world.tweetsBy('kb_news') as Array<{ media?: unknown[] }>;
    assert.equal(tweets.length, 1);
    assert.equal(tweets[0].media?.length, 1);
  });

  it('fails a record whose file cannot be read with the reason, calls none of X\'s media endpoints, and posts it once fixed and retried', async () => {
    media = await createMediaWorld(database);
    const file = putMedia(media.mediaDir, 'secret.png', png());
    fs.chmodSync(file, 0);
    await media.world.sql(INSERT, ['unreadable', 'Cannot be read', 'Yes', 'secret.png']);
    // Root reads any file: the command runs without that power, so mode 000 holds for it.
    const run = await media.world.cli(['--json', 'poll', '--once'], {}, undefined, { honourFileModes: true });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.json.failed, 1);
    const [failed] = await media.world.sql('SELECT state, reason, record_key FROM kbts_publications');
    assert.deepEqual([failed.state, failed.reason], ['failed', "media: the file 'secret.png' cannot be read (permission denied)"]);
    assert.equal(await callsTo(media.world, 'POST /2/media/upload/initialize'), 0);
    assert.equal(await callsTo(media.world, 'POST /2/tweets'), 0);

    fs.chmodSync(file, 0o644);
    await media.world.asNewProcess((services) => retryRecords(services.integrationSetup, media.integrationId, String(failed.record_key)));
    assert.equal((await media.world.pollOnce()).published, 1);
    assert.equal((await media.world.tweetsBy('kb_news')).length, 1);
  });
});
