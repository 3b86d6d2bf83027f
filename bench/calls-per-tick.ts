import { runPollCycle } from '../src/sync/poll-cycle';
import { ProductWorld, type EmulatorProcess } from './harness';
import type { ScenarioResult } from './report';

const NEW_REPLIES = 50;

/** 3. API calls of one tick with 50 new replies, at several numbers of open conversations. */
export async function callsPerTick(emulator: EmulatorProcess, sizes: number[]): Promise<ScenarioResult> {
  const rows = [];
  for (const size of sizes) {
    await emulator.reset();
    const world = await ProductWorld.create(emulator, `calls_${size}`);
    try {
      world.insertArticles(Array.from({ length: size }, (_, i) => `Open conversation ${size}-${i}`));
      await world.publishAll(size);
      const tweets = await emulator.tweetsBy(world.user.username);
      // Spread over as many conversations as there are, the newest and the oldest alike.
      const step = Math.max(1, Math.floor(tweets.length / NEW_REPLIES));
      await emulator.postReplies(Array.from({ length: NEW_REPLIES }, (_, i) => ({
        as: `reader${i}`, text: `A new reply ${i}`, to: tweets[(i * step) % tweets.length].id,
      })));
      const counts = await runPollCycle(world.services.sync);
      if (counts.repliesApplied !== NEW_REPLIES) throw new Error(`the tick wrote ${counts.repliesApplied} of ${NEW_REPLIES} replies`);
      rows.push({ open_conversations: size, api_calls_per_tick: counts.apiCalls, per_conversation_poller_would_need: size });
    } finally {
      await world.close();
    }
  }
  const calls = rows.map((row) => row.api_calls_per_tick);
  return {
    id: 3,
    title: `API calls per tick with ${sizes.map((size) => size.toLocaleString('en')).join(' / ')} open conversations and ${NEW_REPLIES} new replies`,
    values: { ticks: rows },
    target: 'the same number of calls at every size',
    met: calls.every((count) => count === calls[0]),
    figure: `${calls.join(' / ')} calls (a per-conversation poller: ${sizes.map((size) => size.toLocaleString('en')).join(' / ')})`,
    method: 'For each size, the product publishes that many records (each an open conversation whose continue field says Yes), '
      + `other users post ${NEW_REPLIES} replies spread over them, and one poll cycle collects them; its API calls are counted by the `
      + 'product\'s X client. A poller reading each conversation separately would need at least one call per open conversation.',
  };
}
