import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { retryRecords, updateIntegration } from '../../src/setup/integration-setup';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { UPLOAD_CHUNK_BYTES } from '../../src/media/x-media-upload';
import { describeEachDatabase } from '../support/test-env';
import { callsTo, createMediaWorld, emulatorUploads, INSERT_ARTICLE, untilDue, type MediaWorld } from '../support/media-world';
import { WebWorld } from '../support/web-world';

/** An MP4 of `size` bytes whose filler is random, so a byte out of place changes its hash. */
function randomMp4(size: number): Buffer {
  const video = crypto.randomBytes(size);
  video.writeUInt32BE(20, 0);
  video.write('ftypisom', 4, 'ascii');
  return video;
}

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');

// More than three upload chunks, and within KBTS_MEDIA_MAX_MB's default.
const VIDEO_BYTES = 3 * UPLOAD_CHUNK_BYTES + 12345;

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 400; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`waited in vain for ${what}`);
}

describeEachDatabase('media in a BLOB column, read a chunk at a time', (database) => {
  let media: MediaWorld;
  afterEach(async () => media.world.close());

  async function blobVideoRecord(video: Buffer): Promise<string> {
    media = await createMediaWorld(database, 'bytes');
    await media.world.control('POST', '/media/behaviour', { video_processing_ms: 0 });
    await media.world.sql(INSERT_ARTICLE, ['video', 'A clip from the database', 'Yes', video]);
    const [row] = await media.world.sql('SELECT id FROM articles');
    return String(row.id);
  }

  it('posts a BLOB video of several upload chunks with every byte arriving at X intact, and reads the tweet\'s record without its media column', async () => {
    const video = randomMp4(VIDEO_BYTES);
    await blobVideoRecord(video);
    const queries: string[] = [];
    await media.world.asNewProcess(async (services) => {
      (services.db as Knex).on('query', (query: { sql: string }) => queries.push(query.sql));
      await runPollCycle(services.sync);
    });
    const [upload] = await emulatorUploads(media.world);
    assert.equal(upload.total_bytes, video.length);
    assert.equal(upload.segments, 4);
    assert.equal(upload.sha256, sha256(video), 'the bytes X received are the BLOB\'s');
    const [tweet] = await media.world.tweetsBy('kb_news') as Array<{ text: string; media?: Array<{ type: string }> }>;
    assert.equal(tweet.text, 'A clip from the database');
    assert.deepEqual(tweet.media?.map((item) => item.type), ['video']);

    const onArticles = queries.filter((sql) => /from "articles"/i.test(sql));
    const forTheTweet = onArticles.filter((sql) => sql.includes('"tweet_text"'));
    assert.ok(forTheTweet.length > 0, `the tweet's record was read: ${onArticles.join('\n')}`);
    for (const sql of forTheTweet) assert.ok(!sql.includes('"media"'), `the tweet's read names the media column: ${sql}`);
    for (const sql of onArticles) assert.ok(!/select \*/i.test(sql), `a read of every column: ${sql}`);
  });

  it('refuses a BLOB whose length changed while it was uploaded, with the reason, and posts the new bytes once the record is retried', async () => {
    const key = await blobVideoRecord(randomMp4(VIDEO_BYTES));
    // The first chunk's answer is slow: the record is changed while the product waits for it.
    await media.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/media/upload/:id/append', kind: 'latency', ms: 1500, count: 1 }] });
    const polled = media.world.pollOnce();
    await until('the first chunk', async () => (await callsTo(media.world, 'POST /2/media/upload/:id/append')) >= 1);
    const shorter = randomMp4(2 * UPLOAD_CHUNK_BYTES + 7);
    await media.world.sql('UPDATE articles SET media = ? WHERE id = ?', [shorter, key]);
    const first = await polled;
    assert.equal(first.failed, 1);
    const [failed] = await media.world.sql('SELECT state, reason FROM kbts_publications');
    assert.equal(failed.state, 'failed');
    assert.equal(failed.reason, `media: the BLOB in column 'media' of record ${key} changed while it was read: `
      + `it holds ${shorter.length} bytes now, ${VIDEO_BYTES} when it was checked; retry the record`);
    assert.equal(await callsTo(media.world, 'POST /2/tweets'), 0);

    await media.world.asNewProcess((services) => retryRecords(services.integrationSetup, media.integrationId, key));
    assert.equal((await media.world.pollOnce()).published, 1);
    const uploads = await emulatorUploads(media.world);
    assert.equal(uploads.at(-1)?.sha256, sha256(shorter), 'the retry uploaded the record as it is now');
    assert.equal((await media.world.tweetsBy('kb_news')).length, 1);
  });

  it('reuses the upload of an unchanged BLOB when the post is retried, and uploads again once its bytes change', async () => {
    const key = await blobVideoRecord(randomMp4(VIDEO_BYTES));
    await media.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 3 }] });
    assert.equal((await media.world.pollOnce()).deferred, 1);
    await untilDue(media.world);
    await media.world.control('POST', '/faults', { rules: [{ endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 3 }] });
    assert.equal((await media.world.pollOnce()).deferred, 1);
    assert.equal(await callsTo(media.world, 'POST /2/media/upload/initialize'), 1, 'the same bytes were not uploaded again');

    // Same length, other bytes: told apart by their hash.
    const changed = randomMp4(VIDEO_BYTES);
    await media.world.sql('UPDATE articles SET media = ? WHERE id = ?', [changed, key]);
    await untilDue(media.world);
    assert.equal((await media.world.pollOnce()).published, 1);
    assert.equal(await callsTo(media.world, 'POST /2/media/upload/initialize'), 2);
    assert.equal((await emulatorUploads(media.world)).at(-1)?.sha256, sha256(changed));
    assert.equal((await media.world.tweetsBy('kb_news')).length, 1);
  });
});

describeEachDatabase('a BLOB media field on the record page', (database) => {
  let world: WebWorld;
  afterEach(async () => world.close());

  it('serves a BLOB video of several chunks byte for byte, and answers 404 for a record without one', async () => {
    world = await WebWorld.create({ database });
    const { integrationId } = await world.withSandboxIntegration();
    await world.services.db.raw(`ALTER TABLE articles ADD COLUMN picture ${database === 'postgres' ? 'BYTEA' : 'BLOB'}`);
    await updateIntegration(world.services.integrationSetup, integrationId, { mediaField: 'picture' });
    const video = randomMp4(VIDEO_BYTES);
    await world.services.db('articles').insert([
      { title: 'With a clip', tweet_text: 'Clip', keep_going: 'No', picture: video },
      { title: 'Without', tweet_text: 'Nothing', keep_going: 'No' },
    ]);
    const [withClip, without] = await world.services.db('articles').select('id').orderBy('id');
    const viewer = await world.signIn('vic', 'viewer');
    const served = await viewer.get(`/records/articles/rows/${withClip.id}/media/${integrationId}/0`).buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
    assert.equal(served.status, 200);
    assert.equal(served.headers['content-type'], 'video/mp4');
    assert.equal(Number(served.headers['content-length']), video.length);
    assert.equal(sha256(served.body as Buffer), sha256(video));
    const none = await viewer.get(`/records/articles/rows/${without.id}/media/${integrationId}/0`).set('accept', 'application/json');
    assert.equal(none.status, 404);
  });
});
