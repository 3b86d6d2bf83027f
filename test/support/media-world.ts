import fs from 'node:fs';
import path from 'node:path';
import { TestEnv, type TestDatabase } from './test-env';

export interface MediaWorld {
  world: TestEnv;
  integrationId: number;
  mediaDir: string;
}

/** Articles with a media column: paths (text) or the bytes (BLOB on SQLite, bytea on PostgreSQL). */
export async function createMediaWorld(database: TestDatabase, holds: 'paths' | 'bytes' = 'paths'): Promise<MediaWorld> {
  const world = await TestEnv.create(database);
  try {
    const mediaType = holds === 'paths' ? 'TEXT' : database === 'postgres' ? 'BYTEA' : 'BLOB';
    await world.sql(`CREATE TABLE articles (id ${world.autoId}, title TEXT NOT NULL, tweet_text TEXT, replies TEXT, keep_going TEXT, media ${mediaType})`);
    const account = await world.createXUser('kb_news');
    const accountId = await world.addAccount(account);
    const integrationId = await world.addArticlesIntegration(accountId, { 'media-field': 'media' });
    // KBTS_MEDIA_DIR's default: the media folder inside the data folder.
    const mediaDir = path.join(world.dir, 'media');
    fs.mkdirSync(mediaDir, { recursive: true });
    return { world, integrationId, mediaDir };
  } catch (error) {
    await world.close();
    throw error;
  }
}

export const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going, media) VALUES (?, ?, ?, ?)';

/** The uploads the emulator received, as its control API shows them. */
export async function emulatorUploads(world: TestEnv): Promise<Array<{ media_type: string; segments: number; state: string; states_reported: string[]; sha256: string | null; total_bytes: number }>> {
  return (await world.control('GET', '/media')).uploads;
}

export async function callsTo(world: TestEnv, endpoint: string): Promise<number> {
  return (await world.control('GET', '/calls')).by_endpoint[endpoint] ?? 0;
}

/** Waits out the record's retry backoff (short with the test settings), by the product's own clock. */
export async function untilDue(world: TestEnv): Promise<void> {
  const [row] = await world.sql('SELECT next_attempt_at FROM kbts_publications');
  const waitMs = row.next_attempt_at ? Date.parse(row.next_attempt_at) - Date.now() : 0;
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs + 20));
}
