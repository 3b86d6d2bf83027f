import assert from 'node:assert/strict';
import { Slots } from '../../src/sync/account-work';

describe('a worker\'s slots for account runs', () => {
  it('runs at most its size at once, and the others in the order they asked, each once', async () => {
    const slots = new Slots(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const finishers: Array<() => void> = [];
    const runs = [0, 1, 2, 3, 4].map((id) => slots.run(async () => {
      started.push(id);
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => finishers.push(resolve));
      running--;
      return id;
    }));
    // Let the first two begin; the rest wait in line.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1]);
    while (finishers.length > 0) {
      finishers.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(most, 2);
  });

  it('gives the slot back when a run fails', async () => {
    const slots = new Slots(1);
    await assert.rejects(slots.run(async () => { throw new Error('the run failed'); }), /the run failed/);
    assert.equal(await slots.run(async () => 'next'), 'next');
  });
});
