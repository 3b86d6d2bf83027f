import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { updateIntegration } from '../src/setup/integration-setup';
import { Daemon, ProductWorld, round, waitFor, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

const VIDEO_MB = 100;
const MEMORY_TARGET_MB = 150;

/** A 100 MB MP4 (an ISO "ftyp" box, then filler) written a megabyte at a time, so the benchmark itself never holds it. */
function writeVideo(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    const head = Buffer.alloc(20);
    head.writeUInt32BE(20, 0);
    head.write('ftypisomisom', 4, 'ascii');
    fs.writeSync(fd, head);
    const block = Buffer.alloc(1024 * 1024, 0x42);
    for (let written = head.length; written < bytes; written += block.length) fs.writeSync(fd, block, 0, Math.min(block.length, bytes - written));
  } finally {
    fs.closeSync(fd);
  }
}

/** 16. Peak RSS of the daemon while it posts a record with a 100 MB video (chunked upload, processing, post). */
export async function mediaVideo(emulator: EmulatorProcess): Promise<ScenarioResult> {
  await emulator.reset();
  await emulator.control('POST', '/media/behaviour', { video_processing_ms: 2000 });
  const world = await ProductWorld.create(emulator, 'media_video', { schedule: '* * * * * *' });
  const daemonEnv = { KBTS_MEDIA_MAX_MB: '512' };
  try {
    await world.services.db.raw('ALTER TABLE articles ADD COLUMN media TEXT');
    await updateIntegration(world.services.integrationSetup, world.integrationId, { mediaField: 'media' });
    // Made at run time in the world's temporary folder (the default media folder), never committed.
    writeVideo(path.join(world.dir, 'media', 'video.mp4'), VIDEO_MB * 1024 * 1024);
    await world.handOver();
    const daemon = Daemon.start(world, daemonEnv);
    try {
      await waitFor(async () => daemon.ticks().length > 0, "the daemon's first tick", 60_000);
      const idleMb = daemon.memory().peakMb;
      const seen = daemon.ticks().length;
      const db = new Database(world.file);
      db.prepare('INSERT INTO articles (tweet_text, keep_going, media) VALUES (?, ?, ?)').run('A hundred megabytes of video', 'Yes', 'video.mp4');
      db.close();
      const started = Date.now();
      const tick = await daemon.nextBusyTick(seen, 300_000);
      const seconds = (Date.now() - started) / 1000;
      if (tick.published !== 1) throw new Error(`the video record was not posted: ${JSON.stringify(tick.errors ?? tick)}`);
      const [upload] = (await emulator.control('GET', '/media')).uploads;
      const memory = daemon.memory();
      return {
        id: 16,
        title: `Memory: peak RSS of the daemon while posting a ${VIDEO_MB} MB video`,
        values: {
          peak_rss_mb: round(memory.peakMb, 1), peak_rss_mb_before_the_video: round(idleMb, 1), added_by_the_video_mb: round(memory.peakMb - idleMb, 1),
          helper_processes_rss_mb: round(memory.helpersMb, 1),
          video_mb: VIDEO_MB, segments: upload?.segments ?? null, seconds_to_post: round(seconds, 1),
        },
        target: `≤ ${MEMORY_TARGET_MB} MB`,
        met: memory.peakMb <= MEMORY_TARGET_MB,
        figure: `${memory.peakMb.toFixed(0)} MB (${idleMb.toFixed(0)} MB before the video, so ${(memory.peakMb - idleMb).toFixed(0)} MB for it; ${upload?.segments ?? '?'} segments, posted in ${seconds.toFixed(1)} s)`,
        method: `The daemon (\`kb-twitter-sync poll\`, ${Daemon.runs}, every second) posts one record whose media field names a ${VIDEO_MB} MB MP4 `
          + 'written at run time in its media folder: chunked upload (initialize, append per 2 MB chunk read from disk, finalize), STATUS '
          + 'polling while the emulator (its own process) processes the video for 2 s, then the post. Peak RSS is VmHWM of the daemon\'s process; '
          + 'its peak before the record was inserted is reported beside it.',
      };
    } finally {
      await daemon.stop();
    }
  } finally {
    world.removeFiles();
  }
}
