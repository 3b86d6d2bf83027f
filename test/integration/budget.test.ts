import assert from 'node:assert/strict';
import { buildServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { silentLogger } from '../../src/lib/logger';
import { setMonthlyBudget, type AccountCostsDeps } from '../../src/sync/account-costs';
import { probeHeldAccounts } from '../../src/sync/credits-probe';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { movableClock } from '../support/movable-clock';
import { articlesTable, describeEachDatabase, TestEnv } from '../support/test-env';

describeEachDatabase('a monthly budget per account', (database) => {
  let world: TestEnv;
  let services: Services;
  let clock: ReturnType<typeof movableClock>;
  let accountId: number;
  let integrationId: number;
  let deps: AccountCostsDeps;

  const insert = (title: string, text: string) => world.sql('INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)', [title, text, 'Yes']);
  const state = async (key: string) => (await services.publications.findByRecord(integrationId, key))?.state;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    await world.sql(articlesTable(world));
    accountId = await world.addAccount(await world.createXUser('kb_budget'));
    integrationId = await world.addArticlesIntegration(accountId);
    // Mid-month at the emulator's time: the month turns when the test says.
    const now = await world.emulatorNow();
    clock = movableClock(now.startOf('month').plus({ days: 14 }));
    await world.setEmulatorClock({ now: clock.now().toISO()! });
    services = await buildServices(loadConfig(world.env), { logger: silentLogger, clock, migrate: false });
    deps = { db: services.db, accounts: services.accounts, meter: services.costs.meter, probe: services.costs.probe };
  });
  afterEach(async () => {
    await services.close();
    await world.close();
  });

  it('warns from 80 %, and at 100 % pauses the account before its next billable call; raising the budget resumes it and the waiting record goes out once', async () => {
    await setMonthlyBudget(deps, accountId, '0.21');
    await insert('a', 'Read example.com/a');
    assert.equal((await runPollCycle(services.sync)).published, 1);
    const warned = await services.costs.meter.estimate(accountId);
    assert.equal(warned.budgetState, 'warn', `${warned.month.usd} of 0.21 is over 80 %`);
    assert.equal((await services.integrations.get(integrationId))?.pausedReason, null);

    await insert('b', 'Plain words');
    await insert('c', 'More plain words');
    // $0.200 spent: b ($0.015) goes out and reaches the budget; the call after it (c's post) is refused before it is made.
    const stopped = await runPollCycle(services.sync);
    assert.equal(stopped.published, 1);
    const paused = await services.integrations.get(integrationId);
    assert.equal(paused?.status, 'paused');
    assert.match(paused?.pausedReason ?? '', /^the account's monthly X budget of \$0\.210 is reached \(\$0\.215 estimated for \d{4}-\d{2}\); its work waits, nothing is lost, until the month turns \(UTC\) or the budget is raised or lifted$/);
    assert.equal(stopped.failed, 0);
    assert.deepEqual([await state('2'), await state('3')], ['sent', 'pending']);
    assert.equal((await services.costs.meter.estimate(accountId)).budgetState, 'reached');
    const callsBefore = (await world.control('GET', '/calls')).calls;
    assert.equal((await runPollCycle(services.sync)).accounts.length, 0, 'a paused account makes no calls');
    assert.deepEqual((await world.control('GET', '/calls')).calls, callsBefore);

    await setMonthlyBudget(deps, accountId, '5');
    assert.equal((await services.integrations.get(integrationId))?.status, 'active', 'raising the budget resumes the account');
    await runPollCycle(services.sync);
    await runPollCycle(services.sync);
    assert.deepEqual((await world.tweetsBy('kb_budget')).map((tweet) => tweet.text).sort(), ['More plain words', 'Plain words', 'Read example.com/a']);
  });

  it('stays paused until the month turns (UTC), then resumes by itself', async () => {
    await setMonthlyBudget(deps, accountId, '0.2');
    await insert('a', 'Read example.com/a');
    await insert('b', 'Plain words');
    const stopped = await runPollCycle(services.sync);
    assert.equal(stopped.published, 1);
    assert.equal(await state('2'), 'pending');
    assert.match((await services.integrations.get(integrationId))?.pausedReason ?? '', /monthly X budget of \$0\.200 is reached/);

    assert.deepEqual((await probeHeldAccounts(services.costs.probe)).map((o) => o.outcome), ['still_held']);
    clock.set(clock.now().plus({ months: 1 }).startOf('month').plus({ minutes: 1 }));
    await world.setEmulatorClock({ now: clock.now().toISO()! });
    assert.deepEqual((await probeHeldAccounts(services.costs.probe)).map((o) => o.outcome), ['resumed']);
    assert.equal((await runPollCycle(services.sync)).published, 1);
    assert.equal(await state('2'), 'sent');
  });

  it('refuses a budget of 0 or text from the command line in words, with a non-zero exit, and keeps the old one', async () => {
    await setMonthlyBudget(deps, accountId, '3');
    for (const [given, said] of [['0', /must be more than \$0/], ['lots', /an amount of US dollars such as 25 or 12\.50/]] as const) {
      const refused = await world.cli(['--json', 'account', 'budget', String(accountId), given]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.json.error, said);
    }
    assert.equal((await services.costs.meter.estimate(accountId)).monthlyBudgetUsd, 3);
    const lifted = await world.cli(['--json', 'account', 'budget', String(accountId), 'none']);
    assert.equal(lifted.code, 0, lifted.stderr);
    assert.equal(lifted.json.monthly_budget_usd, null);
  });
});
