import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toIso } from '../../src/lib/clock';
import { checkNoRepliesAlerts } from '../../src/sync/no-replies-alert';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld, type Agent } from '../support/web-world';

const HOUR_MS = 3_600_000;

/** A notification receiver: keeps each JSON document POSTed to it, answering with `status`. */
async function startReceiver(status = 204): Promise<{ url: string; received: unknown[]; close(): Promise<void> }> {
  const received: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'], method: req.method, body: JSON.parse(body) });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/kb-alerts`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describeEachDatabase('the "no replies for N hours" alert', (database) => {
  let world: WebWorld;
  let admin: Agent;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let integrationId: number;

  const alertLines = () => world.logLines.filter((line) => line.includes('has had no reply for more than 2 hours'));
  const metric = async () => sampleValue(parsePrometheusText(await world.services.metrics.text()), 'kbts_no_replies_alert', { integration: String(integrationId) });

  before(async () => {
    receiver = await startReceiver();
    world = await WebWorld.create({ database, sandboxClock: true, env: { ALERT_WEBHOOK_URL: receiver.url } });
    admin = await world.signIn('ada', 'admin');
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kb_quiet' }));
    await world.services.integrations.update(integrationId, { alertNoRepliesHours: 2 }, toIso(world.services.clock.now()));
    await world.env.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('Quiet', 'Does anyone read this?', 'Yes')");
    await runPollCycle(world.services.sync);
  });
  after(async () => {
    await world.close();
    await receiver.close();
  });

  it('stays quiet while the silence is shorter than the setting', async () => {
    const check = await checkNoRepliesAlerts(world.services.noRepliesAlerts);
    await check.delivered;
    assert.deepEqual(check.raised, []);
    assert.equal(receiver.received.length, 0);
    assert.equal((await admin.get('/')).text.includes('no-replies-alert-'), false);
    assert.equal(await metric(), 0);
  });

  it('raises once after N hours: a dashboard banner, one log line, the metric and one JSON document', async () => {
    world.sandbox.changeClock({ advance_ms: 3 * HOUR_MS });
    const first = await checkNoRepliesAlerts(world.services.noRepliesAlerts);
    await first.delivered;
    assert.deepEqual(first.raised, [integrationId]);
    const again = await checkNoRepliesAlerts(world.services.noRepliesAlerts);
    await again.delivered;
    assert.deepEqual(again.raised, [], 'a second check of the same episode raises nothing');

    assert.equal(receiver.received.length, 1, 'one notification per episode');
    const [notice] = receiver.received as Array<{ contentType: string; method: string; body: Record<string, unknown> }>;
    assert.equal(notice.method, 'POST');
    assert.match(notice.contentType, /^application\/json/);
    assert.deepEqual({ ...notice.body, raised_at: typeof notice.body.raised_at }, {
      event: 'no_replies', integration_id: integrationId, table: 'articles', account_id: 1, account: 'kb_quiet', hours: 2, last_reply_at: null, raised_at: 'string',
    });
    assert.equal(alertLines().length, 1, 'one log line per episode, not per check');
    assert.equal(await metric(), 1);
    const page = (await admin.get('/')).text;
    assert.match(page, new RegExp(`id="no-replies-alert-${integrationId}"`));
    assert.match(page, /has had no reply for more than 2 hours: none has arrived since it was created/);
  });

  it('clears when a reply arrives, and raises a new episode after another silence', async () => {
    const [tweet] = world.sandbox.listTweets({ author: 'kb_quiet' });
    world.sandbox.createUser({ username: 'late_reader' });
    world.sandbox.postAs({ as: 'late_reader', in_reply_to_tweet_id: tweet.id, text: 'I read it, finally' });
    await runPollCycle(world.services.sync);
    const check = await checkNoRepliesAlerts(world.services.noRepliesAlerts);
    assert.deepEqual(check.cleared, [integrationId]);
    assert.equal((await admin.get('/')).text.includes('no-replies-alert-'), false, 'the banner is gone');
    assert.equal(await metric(), 0);
    assert.ok(world.logLines.some((line) => line.includes('replies arrive again; its no-replies alert is cleared')));

    world.sandbox.changeClock({ advance_ms: 3 * HOUR_MS });
    const next = await checkNoRepliesAlerts(world.services.noRepliesAlerts);
    await next.delivered;
    assert.deepEqual(next.raised, [integrationId]);
    assert.equal(receiver.received.length, 2);
    const body = (receiver.received[1] as { body: { last_reply_at: string | null } }).body;
    assert.equal(typeof body.last_reply_at, 'string', 'the notice names the last reply\'s time');
    assert.match((await admin.get('/')).text, /the last arrived <time/);
  });
});

describeEachDatabase('the no-replies alert\'s notification when the receiver fails', (database) => {
  it('logs the failure by host, keeps the alert raised, and never throws from the check', async () => {
    const receiver = await startReceiver(500);
    const world = await WebWorld.create({ database, sandboxClock: true, env: { ALERT_WEBHOOK_URL: `${receiver.url}/secret-path-token` } });
    try {
      const { integrationId } = await world.withSandboxIntegration({ username: 'kb_failing' });
      await world.services.integrations.update(integrationId, { alertNoRepliesHours: 1 }, toIso(world.services.clock.now()));
      world.sandbox.changeClock({ advance_ms: 2 * HOUR_MS });
      const check = await checkNoRepliesAlerts(world.services.noRepliesAlerts);
      await check.delivered;
      assert.deepEqual(check.raised, [integrationId]);
      assert.equal(receiver.received.length, 1);
      const failure = world.logLines.find((line) => line.includes('could not be sent to ALERT_WEBHOOK_URL'));
      assert.ok(failure, 'the failure is logged');
      assert.match(failure, /the receiver answered 500/);
      assert.equal(failure.includes('secret-path-token'), false, 'the address\'s path is not logged');
      assert.equal((await world.services.noRepliesAlerts.alerts.list()).length, 1);
    } finally {
      await world.close();
      await receiver.close();
    }
  });
});

describe('the no-replies alert setting on the command line and in the wizard', () => {
  let world: WebWorld;
  let integrationId: number;

  before(async () => {
    world = await WebWorld.create();
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kb_setting' }));
  });
  after(async () => world.close());

  it('is set, refused with the reason, and turned off with `integration update --alert-no-replies-hours`', async () => {
    const set = await world.env.cli(['--json', 'integration', 'update', String(integrationId), '--alert-no-replies-hours', '12']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.json.alert_no_replies_hours, 12);
    const wrong = await world.env.cli(['integration', 'update', String(integrationId), '--alert-no-replies-hours', 'soon']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /the no-replies alert must be a whole number of hours from 1 to 8760, or off, not 'soon'/);
    assert.equal((await world.services.integrations.get(integrationId))?.alertNoRepliesHours, 12, 'a refused update changes nothing');
    const off = await world.env.cli(['--json', 'integration', 'update', String(integrationId), '--alert-no-replies-hours', 'off']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.json.alert_no_replies_hours, null);
  });

  it('is a field of the wizard\'s edit page, with the stored value', async () => {
    await world.services.integrations.update(integrationId, { alertNoRepliesHours: 36 }, toIso(world.services.clock.now()));
    const admin = await world.signIn('ada', 'admin');
    const page = await admin.get(`/integrations/${integrationId}/edit`);
    assert.equal(page.status, 200);
    assert.match(page.text, /<input id="alertNoRepliesHours" name="alertNoRepliesHours" value="36"/);
  });
});
