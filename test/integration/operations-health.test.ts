import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildServices } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { Scheduler } from '../../src/sync/scheduler';
import { createWebApp } from '../../src/web/create-web-app';
import { checkScheduler } from '../../src/web/routes/health';
import { describeEachDatabase } from '../support/test-env';
import { WebWorld } from '../support/web-world';

describeEachDatabase('/healthz: database and scheduler, without sign-in', (database) => {
  let world: WebWorld;
  let scheduler: Scheduler;
  let credentials: Awaited<ReturnType<WebWorld['withSandboxIntegration']>>['credentials'];

  before(async () => {
    world = await WebWorld.create({ database, web: (services) => ({ scheduler: (scheduler = new Scheduler(services.sync, 60_000)) }) });
    ({ credentials } = await world.withSandboxIntegration());
    await scheduler.start();
  });
  after(async () => {
    await scheduler.stop();
    await world.close();
  });

  it('answers 200 "ok" to anyone, naming both checks and no secret', async () => {
    const response = await world.agent().get('/healthz');
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'ok');
    assert.deepEqual(Object.keys(response.body.checks).sort(), ['database', 'scheduler']);
    assert.equal(response.body.checks.database.status, 'ok');
    assert.equal(response.body.checks.scheduler.status, 'ok');
    for (const secret of [...Object.values(credentials), world.services.config.secretKey, world.env.databaseUrl]) {
      assert.equal(response.text.includes(secret), false, 'no secret and no database address in the body');
    }
  });

  it('answers 503 "degraded" when the scheduler stopped ticking', async () => {
    await scheduler.stop();
    try {
      const response = await world.agent().get('/healthz');
      assert.equal(response.status, 503);
      assert.equal(response.body.status, 'degraded');
      assert.equal(response.body.checks.database.status, 'ok');
      assert.equal(response.body.checks.scheduler.status, 'stopped');
    } finally {
      await scheduler.start();
    }
  });

  it('answers 503 "down" naming the database check when the database cannot be reached, without its address', async () => {
    const unreachable = database === 'postgres'
      ? 'postgres://kbts:not-a-real-password@127.0.0.1:1/kbts'
      : path.join(world.env.dir, 'a-folder-not-a-database');
    if (database === 'sqlite') fs.mkdirSync(unreachable);
    const logLines: string[] = [];
    const config = loadConfig({ ...world.env.env, DATABASE_URL: unreachable });
    const services = await buildServices(config, { migrate: false, logger: createLogger('debug', (line) => logLines.push(line)) });
    const server = http.createServer(createWebApp(services)).listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`);
      const text = await response.text();
      const body = JSON.parse(text);
      assert.equal(response.status, 503);
      assert.equal(body.status, 'down');
      assert.equal(body.checks.database.status, 'down');
      assert.match(body.checks.database.detail, /database did not answer/);
      assert.equal(text.includes('not-a-real-password'), false);
      assert.equal(text.includes(unreachable), false);
      assert.ok(logLines.some((line) => line.includes('health check: the database did not answer')), 'the reason is in the log');
    } finally {
      server.close();
      await services.close().catch(() => undefined);
    }
  });
});

describe('the scheduler check of /healthz', () => {
  const at = (ms: number) => new Date(ms);
  const running = (lastRefreshMs: number | null) => ({
    runNow: async () => { throw new Error('unused'); }, nextRun: () => null, refresh: async () => undefined,
    liveness: () => ({ running: true, lastRefreshAt: lastRefreshMs === null ? null : at(lastRefreshMs), refreshEveryMs: 30_000 }),
  });

  it('is ok within twice the refresh interval and stale after it', () => {
    assert.equal(checkScheduler(running(1_000_000), 1_000_000 + 60_000).status, 'ok');
    const stale = checkScheduler(running(1_000_000), 1_000_000 + 60_001);
    assert.equal(stale.status, 'stale');
    assert.match(stale.detail, /last read its integrations 60 s ago; it should every 30 s/);
    assert.equal(checkScheduler(running(null), 5).status, 'stale');
  });

  it('says when no scheduler runs in the process', () => {
    assert.equal(checkScheduler(undefined, 0).status, 'absent');
  });
});
