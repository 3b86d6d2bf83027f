import assert from 'node:assert/strict';
import type { Services } from '../../src/app';
import { addChannel } from '../../src/channels/channel-setup';
import { queueDmReply } from '../../src/sync/outbound/direct-messages';
import { runPollCycle } from '../../src/sync/poll-cycle';
import { Scheduler } from '../../src/sync/scheduler';
import { describeEachDatabase, TestEnv, type EmulatorUser } from '../support/test-env';
import { until } from '../support/webhook-product';

describeEachDatabase('a channel on an account with no integration is worked by itself', (database) => {
  let world: TestEnv;
  let account: EmulatorUser;
  let accountId: number;
  let services: Services;

  beforeEach(async () => {
    world = await TestEnv.create(database);
    account = await world.createXUser('kb_inbox');
    accountId = await world.addAccount(account);
    await world.sql(`CREATE TABLE tickets (id ${world.autoId}, body TEXT, author VARCHAR(100), link VARCHAR(300), conversation TEXT, still_open VARCHAR(10))`);
    services = await world.services();
    await addChannel({ db: services.db, accounts: services.accounts, integrations: services.integrations, clock: services.clock }, {
      accountId, kind: 'dms', table: 'tickets', textField: 'body', authorField: 'author', linkField: 'link',
      responseField: 'conversation', mode: 'append', continueField: 'still_open',
    });
  });
  afterEach(async () => world.close());

  const sentToAlice = async () => ((await world.control('GET', '/dms?user=alice')).dms as Array<{ sender_username: string; text: string }>)
    .filter((dm) => dm.sender_username === account.username).map((dm) => dm.text);

  it('poll --once reads its direct messages into records and sends the reply queued from one', async () => {
    await world.control('POST', '/dms', { as: 'alice', to: account.username, text: 'Is anyone there?' });
    const first = await runPollCycle(services.sync);
    assert.deepEqual(first.accounts.map((outcome) => [outcome.accountId, outcome.outcome]), [[accountId, 'done']]);
    const [ticket] = await world.sql('SELECT * FROM tickets');
    assert.equal(ticket.body, 'Is anyone there?');
    const channelId = Number((await world.sql('SELECT id FROM kbts_channels'))[0].id);
    await queueDmReply(services.sync, { channelId, recordKey: String(ticket.id), text: 'Yes, we are.', requestedBy: 'test' });
    await runPollCycle(services.sync);
    assert.deepEqual(await sentToAlice(), ['Yes, we are.']);
  });

  it('a running scheduler sends a queued reply with its sweep, without any integration', async () => {
    await world.control('POST', '/dms', { as: 'alice', to: account.username, text: 'Hello?' });
    await runPollCycle(services.sync);
    const [ticket] = await world.sql('SELECT * FROM tickets');
    const channelId = Number((await world.sql('SELECT id FROM kbts_channels'))[0].id);
    const scheduler = new Scheduler(services.sync, 60_000, { publishSweepMs: 200 });
    await scheduler.start();
    try {
      await queueDmReply(services.sync, { channelId, recordKey: String(ticket.id), text: 'Here we are.', requestedBy: 'test' });
      await until('the reply sent by the sweep', async () => (await sentToAlice()).length > 0);
      assert.deepEqual(await sentToAlice(), ['Here we are.']);
    } finally {
      await scheduler.stop();
    }
  });
});
