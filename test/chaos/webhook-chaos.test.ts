import assert from 'node:assert/strict';
import { toIso } from '../../src/lib/clock';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { startWebhooks } from '../../src/sync/webhooks';
import { TestEnv } from '../support/test-env';
import { startProduct, until, type Product } from '../support/webhook-product';

const RUNS = Number(process.env.KBTS_CHAOS_RUNS ?? 50);
const FAULT_KINDS = ['lost', 'duplicate', 'out_of_order', 'delay', 'bad_signature'] as const;

describe(`chaos: webhook deliveries (runs: ${RUNS})`, function () {
  this.timeout(0);

  it(`keeps each of ${RUNS * 2} replies once under random delivery faults and a server restart (backstop poll and replay)`, async () => {
    const world = await TestEnv.create('sqlite');
    let product: Product | null = null;
    try {
      await world.sql('CREATE TABLE items (id INTEGER PRIMARY KEY, tweet_text TEXT, replies TEXT, keep_going TEXT)');
      const accountId = await world.addAccount(await world.createXUser('kb_hooked'));
      await world.addIntegration({ account: String(accountId), table: 'items', 'tweet-field': 'tweet_text', 'response-field': 'replies', mode: 'append', 'continue-field': 'keep_going' });
      product = await startProduct(world, { LOG_LEVEL: 'warn' });
      await product.services.webhooks.enable(accountId);
      for (let i = 0; i < 10; i++) await world.sql("INSERT INTO items (tweet_text, keep_going) VALUES (?, 'Yes')", [`Hooked record ${i}`]);
      assert.equal((await runPollCycle(product.services.sync)).published, 10);
      const tweets = await world.tweetsBy('kb_hooked');

      const faults = new Map<string, number>();
      const replies: Array<{ text: string; tweetId: string }> = [];
      const reply = async (i: number) => {
        const target = tweets[Math.floor(Math.random() * tweets.length)];
        const text = `hooked reply ${i}`;
        await world.replyAs(`reader_${i % 23}`, target.id, text);
        replies.push({ text, tweetId: target.id });
      };
      for (let i = 0; i < RUNS * 2; i++) {
        if (Math.random() < 0.5) {
          const kind = FAULT_KINDS[Math.floor(Math.random() * FAULT_KINDS.length)];
          faults.set(kind, (faults.get(kind) ?? 0) + 1);
          // Count 2: a reply carries @kb_hooked, so it is two events (reply and mention); both are hit.
          await world.control('POST', '/webhooks/faults', { rules: [{ kind, ms: 150, count: 2 }] });
        }
        await reply(i);
        if (i === RUNS) {
          // The server goes away; X's deliveries meanwhile find nobody; it comes back on the same address.
          const port = product.port;
          await product.close();
          product = null;
          for (let j = 0; j < 3; j++) await reply(RUNS * 2 + j);
          product = await startProduct(world, { LOG_LEVEL: 'warn' }, port);
          // As if it had been down for a while, so the start asks X to replay the missed window.
          await product.services.sync.accountWebhooks!.update(accountId, { aliveAt: toIso(product.services.clock.now().minus({ minutes: 20 })) }, toIso(product.services.clock.now()));
          const started = startWebhooks(product.services.webhooks, product.services.accounts, product.services.logger, product.url);
          await started.stop();
        }
      }
      // Every delivery done (held-back and delayed ones included), everything accepted written.
      await until('the deliveries to settle', async () => {
        const { deliveries } = await world.control('GET', '/webhooks/deliveries');
        const { faults: left } = await world.control('GET', '/webhooks/faults');
        return left.length === 0 && deliveries.filter((d: { replay: boolean }) => !d.replay).length >= replies.length * 2;
      }, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await product.services.webhooks.ingestion.idle();
      const beforeBackstop = await world.sql("SELECT COUNT(*) AS n FROM kbts_communications WHERE direction = 'in'");
      // The backstop's interval has passed: the poll reads the mentions and catches what was lost.
      await product.services.sync.accountWebhooks!.update(accountId, { lastBackstopAt: toIso(product.services.clock.now().minus({ hours: 1 })) }, toIso(product.services.clock.now()));
      await runPollCycle(product.services.sync);

      const rows = await world.sql<{ replies: string | null; tweet_id: string }>('SELECT i.replies, p.tweet_id FROM items i JOIN kbts_publications p ON p.record_key = CAST(i.id AS TEXT)');
      const fieldByTweet = new Map(rows.map((row) => [row.tweet_id, row.replies ?? '']));
      const logged = await world.sql<{ text: string }>("SELECT text FROM kbts_communications WHERE direction = 'in'");
      let duplicates = 0;
      let losses = 0;
      for (const { text, tweetId } of replies) {
        const inRecord = (fieldByTweet.get(tweetId) ?? '').split('\n').filter((line) => line.endsWith(`: ${text}`)).length;
        const inLog = logged.filter((row) => row.text.endsWith(text)).length;
        if (inRecord > 1 || inLog > 1) duplicates++;
        if (inRecord === 0 || inLog === 0) losses++;
      }
      process.stdout.write(`      webhooks: replies ${replies.length}, faults ${JSON.stringify(Object.fromEntries(faults))}, `
        + `written by webhook ${Number(beforeBackstop[0].n)}, after the backstop ${logged.length}, duplicates ${duplicates}, losses ${losses}\n`);
      assert.equal(duplicates, 0);
      assert.equal(losses, 0);
    } finally {
      await product?.close();
      await world.close();
    }
  });
});
