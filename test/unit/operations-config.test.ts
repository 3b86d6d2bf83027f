import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config';

const BASE = { SECRET_KEY: 'a secret key of sixteen+', KBTS_DATA_DIR: '/nonexistent-kbts-data' };

describe('the operations settings of the configuration', () => {
  it('leaves /metrics off without METRICS_TOKEN and takes a long enough one', () => {
    assert.equal(loadConfig({ ...BASE }).metricsToken, null);
    assert.equal(loadConfig({ ...BASE, METRICS_TOKEN: '' }).metricsToken, null);
    assert.equal(loadConfig({ ...BASE, METRICS_TOKEN: 'sixteen-chars-ok' }).metricsToken, 'sixteen-chars-ok');
  });

  it('refuses a short METRICS_TOKEN or one with spaces, naming the variable', () => {
    assert.throws(() => loadConfig({ ...BASE, METRICS_TOKEN: 'short' }), /METRICS_TOKEN must be at least 16 characters long/);
    assert.throws(() => loadConfig({ ...BASE, METRICS_TOKEN: 'sixteen chars no' }), /without spaces/);
  });
});
