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

describe('the no-replies alert webhook address of the configuration', () => {
  it('takes an http(s) address, and none when unset', () => {
    assert.equal(loadConfig({ ...BASE }).alertWebhookUrl, null);
    assert.equal(loadConfig({ ...BASE, ALERT_WEBHOOK_URL: ' https://chat.example.org/hooks/kb ' }).alertWebhookUrl, 'https://chat.example.org/hooks/kb');
  });

  it('refuses what is not an http(s) address, naming the variable and the value', () => {
    assert.throws(() => loadConfig({ ...BASE, ALERT_WEBHOOK_URL: 'chat.example.org' }), /ALERT_WEBHOOK_URL must be an http:\/\/ or https:\/\/ address.*not "chat\.example\.org"/);
    assert.throws(() => loadConfig({ ...BASE, ALERT_WEBHOOK_URL: 'ftp://example.org/x' }), /ALERT_WEBHOOK_URL must be/);
  });
});
