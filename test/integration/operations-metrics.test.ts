import assert from 'node:assert/strict';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { describeEachDatabase } from '../support/test-env';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text';
import { WebWorld } from '../support/web-world';

const TOKEN = 'metrics-token-for-the-tests';

describeEachDatabase('/metrics: Prometheus text behind a bearer token', (database) => {
  let world: WebWorld;
  let integrationId: number;

  const scrape = async () => {
    const response = await world.agent().get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    assert.equal(response.status, 200, response.text);
    assert.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(response.text);
  };

  before(async () => {
    world = await WebWorld.create({ database, env: { METRICS_TOKEN: TOKEN } });
    ({ integrationId } = await world.withSandboxIntegration({ username: 'kb_metrics' }));
    await world.env.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('One', 'A tweet to count', 'Yes')");
    await runPollCycle(world.services.sync);
  });
  after(async () => world.close());

  it('refuses a scrape without the token, or with another one, with 401', async () => {
    const without = await world.agent().get('/metrics');
    assert.equal(without.status, 401);
    assert.match(without.headers['www-authenticate'], /^Bearer/);
    assert.match(without.text, /Authorization: Bearer/);
    const wrong = await world.agent().get('/metrics').set('Authorization', `Bearer ${TOKEN}x`);
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /not the METRICS_TOKEN/);
    assert.equal(wrong.text.includes(TOKEN), false);
  });

  it('counts the poll\'s post and X calls, its latency and the queue, in well-formed text', async () => {
    const id = String(integrationId);
    let families = await scrape();
    assert.equal(families.get('kbts_posts_total')?.type, 'counter');
    assert.equal(sampleValue(families, 'kbts_posts_total', { integration: id, outcome: 'sent' }), 1);
    assert.equal(sampleValue(families, 'kbts_x_api_calls_total', { endpoint: 'POST /2/tweets', status: '2xx' }), 1);
    assert.ok((sampleValue(families, 'kbts_x_api_calls_total', { endpoint: 'GET /2/users/:id/mentions', status: '2xx' }) ?? 0) >= 1, 'the mentions read is counted');
    assert.equal(families.get('kbts_insert_to_tweet_seconds')?.type, 'histogram');
    assert.equal(sampleValue(families, 'kbts_insert_to_tweet_seconds_count'), 1);
    assert.equal(sampleValue(families, 'kbts_insert_to_tweet_seconds_bucket', { le: '+Inf' }), 1);
    assert.equal(sampleValue(families, 'kbts_lease_holds', { held_by: 'this_process' }), 0, 'the poll released its lease');
    assert.equal(sampleValue(families, 'kbts_queue_depth', { integration: id, state: 'pending' }), undefined);

    await world.env.sql("INSERT INTO articles (title, tweet_text, keep_going) VALUES ('Two', 'Waiting in the queue', 'Yes')");
    families = await scrape();
    assert.equal(sampleValue(families, 'kbts_queue_depth', { integration: id, state: 'pending' }), 1);
    // A second scrape observes no record twice.
    assert.equal(sampleValue(families, 'kbts_insert_to_tweet_seconds_count'), 1);
  });

  it('counts replies ingested and X errors by kind', async () => {
    const [tweet] = world.sandbox.listTweets({ author: 'kb_metrics' });
    world.sandbox.createUser({ username: 'metrics_reader' });
    world.sandbox.postAs({ as: 'metrics_reader', in_reply_to_tweet_id: tweet.id, text: 'a counted answer' });
    world.sandbox.addFaults([{ endpoint: 'POST /2/tweets', kind: 'status', status: 503, count: 1 }]);
    await runPollCycle(world.services.sync);
    const families = await scrape();
    assert.equal(sampleValue(families, 'kbts_replies_ingested_total', { outcome: 'applied' }), 1);
    assert.equal(sampleValue(families, 'kbts_x_api_calls_total', { endpoint: 'POST /2/tweets', status: '503' }), 1);
    assert.equal(sampleValue(families, 'kbts_errors_total', { kind: 'x_server' }), 1);
  });

  it('keeps each services instance\'s counts in its own registry, and is off without a token', async () => {
    const other = await WebWorld.create({ database, env: { METRICS_TOKEN: TOKEN } });
    const off = await WebWorld.create({ database });
    try {
      const response = await other.agent().get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
      assert.equal(response.status, 200);
      assert.equal(sampleValue(parsePrometheusText(response.text), 'kbts_x_api_calls_total', { endpoint: 'POST /2/tweets', status: '2xx' }), undefined);
      const closed = await off.agent().get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
      assert.equal(closed.status, 404);
      assert.match(closed.text, /set METRICS_TOKEN/);
    } finally {
      await other.close();
      await off.close();
    }
  });
});

describe('the Prometheus text reader of the tests', () => {
  it('reads labels with escapes and refuses a malformed sample', () => {
    const families = parsePrometheusText('# HELP a_total An \\\\ example\n# TYPE a_total counter\na_total{x="say \\"hi\\"",y="1"} 2.5\n');
    assert.equal(sampleValue(families, 'a_total', { x: 'say "hi"', y: '1' }), 2.5);
    assert.throws(() => parsePrometheusText('a_total{x=1} 2\n'), /cannot read the labels/);
    assert.throws(() => parsePrometheusText('a_total two\n'), /not a number/);
  });
});
