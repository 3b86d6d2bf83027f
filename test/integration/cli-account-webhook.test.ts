import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { buildServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { createWebApp } from '../../src/web/create-web-app';
import { articlesTable, TestEnv } from '../support/test-env';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('command line: account webhook enable, disable, status', function () {
  // Each command is a process of its own (a few seconds each on a busy machine).
  this.timeout(180_000);
  let world: TestEnv;
  let accountId: number;
  let services: Services;
  let server: http.Server;
  let publicUrl: string;

  before(async () => {
    world = await TestEnv.create('sqlite');
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_news'));
    // The web app answers X's CRC request while the command registers the webhook.
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    services = await buildServices(loadConfig({ ...world.env, PORT: String(port), PUBLIC_URL: publicUrl }), { logger: createLogger('silent'), migrate: false });
    server = http.createServer(createWebApp(services));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await services.close();
    await world.close();
  });

  it('refuses bad input with a non-zero exit and words', async () => {
    const notId = await world.cli(['account', 'webhook', 'enable', 'abc']);
    assert.equal(notId.code, 1);
    assert.match(notId.stderr, /account id must be a positive whole number, not 'abc'/);
    const missing = await world.cli(['account', 'webhook', 'status', '999', '--json']);
    assert.equal(missing.code, 1);
    assert.deepEqual(missing.json, { error: 'account 999 does not exist', code: 'not_found' });
    const noUrl = await world.cli(['account', 'webhook', 'enable', String(accountId)]);
    assert.equal(noUrl.code, 1);
    assert.match(noUrl.stderr, /real-time replies need PUBLIC_URL/);
    const badUrl = await world.cli(['account', 'webhook', 'enable', String(accountId)], { PUBLIC_URL: 'http://kb.example.org' });
    assert.equal(badUrl.code, 1);
    assert.match(badUrl.stderr, /PUBLIC_URL must start with https:\/\//);
    const badMinutes = await world.cli(['account', 'webhook', 'enable', String(accountId), '--backstop-minutes', 'often'], { PUBLIC_URL: publicUrl });
    assert.equal(badMinutes.code, 1);
    assert.match(badMinutes.stderr, /--backstop-minutes must be a whole number of minutes from 1 to 1440, not 'often'/);
  });

  it('enables, reports and disables, with --json giving the same status fields', async () => {
    const off = await world.cli(['account', 'webhook', 'status', String(accountId), '--json']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.json.enabled, false);
    assert.equal(off.json.registered, false);

    const on = await world.cli(['account', 'webhook', 'enable', String(accountId), '--backstop-minutes', '30', '--json'], { PUBLIC_URL: publicUrl });
    assert.equal(on.code, 0, on.stderr);
    assert.deepEqual(Object.keys(on.json).sort(), [
      'account_id', 'backstop_minutes', 'enabled', 'events_today', 'last_crc_at', 'last_error', 'last_event_at', 'registered', 'subscriptions', 'valid', 'webhook_id', 'webhook_url',
    ]);
    assert.equal(on.json.enabled, true);
    assert.equal(on.json.valid, true);
    assert.equal(on.json.backstop_minutes, 30);
    assert.equal(on.json.webhook_url, `${publicUrl}/webhooks/x/${accountId}`);
    assert.ok(on.json.last_crc_at);
    assert.equal(on.json.subscriptions.length, 2);

    const human = await world.cli(['account', 'webhook', 'status', String(accountId)]);
    assert.match(human.stdout, /real-time replies are on \(webhook \d+, valid\)/);
    assert.match(human.stdout, /backstop poll of mentions every 30 minutes/);

    const disabled = await world.cli(['account', 'webhook', 'disable', String(accountId), '--json']);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal(disabled.json.enabled, false);
    assert.deepEqual((await world.control('GET', '/webhooks')).webhooks, []);
  });
});
