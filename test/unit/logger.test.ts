import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createLogger, REDACTED, silentLogger, type LogLevel } from '../../src/lib/logger';

function collect(level: LogLevel = 'debug') {
  const lines: string[] = [];
  const logger = createLogger(level, (line) => lines.push(line));
  return { logger, lines, parsed: () => lines.map((line) => JSON.parse(line)) };
}

describe('logger', () => {
  it('writes one JSON line per event with the level as a word, an ISO time, the message and the fields', () => {
    const { logger, lines, parsed } = collect('info');
    logger.debug('below the level');
    logger.info('poll finished', { integrationId: 3, published: 2 });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes('\n'));
    const [line] = parsed();
    assert.equal(line.level, 'info');
    assert.equal(line.message, 'poll finished');
    assert.equal(new Date(line.time).toISOString(), line.time);
    assert.deepEqual([line.integrationId, line.published], [3, 2]);
  });

  it('blanks every secret-bearing field at every level, at the top, nested and in child bindings', () => {
    const { logger, lines, parsed } = collect('debug');
    const secrets = ['s-api-key', 's-api-secret', 's-token', 's-token-secret', 's-password', 's-oauth', 's-cookie', 's-nested', 's-child', 's-odd'];
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      logger[level]('with secrets', {
        apiKey: secrets[0], api_key_secret: secrets[1], accessToken: secrets[2], access_token_secret: secrets[3], password: secrets[4],
        req: { headers: { authorization: `OAuth oauth_token="${secrets[5]}"`, cookie: secrets[6] } },
        account: { credentials: { apiKey: secrets[7] } }, twitterApiKeySecret: secrets[9],
      });
    }
    logger.child({ accountId: 1, token: secrets[8] }).child({ integrationId: 2 }).info('from a child');
    assert.equal(lines.length, 5);
    for (const line of lines) for (const secret of secrets) assert.ok(!line.includes(secret), `${secret} in ${line}`);
    const [first] = parsed();
    assert.equal(first.req.headers.authorization, REDACTED);
    assert.equal(first.account.credentials, REDACTED);
    const child = parsed()[4];
    assert.deepEqual([child.accountId, child.integrationId, child.token], [1, 2, REDACTED]);
  });

  it('blanks secrets deeper than two levels and inside arrays, and writes a circular reference as such', () => {
    const { logger, parsed } = collect('info');
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    logger.info('deep', {
      a: { b: { c: { accessTokenSecret: 's-deep' } } },
      accounts: [{ id: 1, credentials: { apiKey: 's-in-array' } }, { id: 2, oauth_signature: 's-signature' }],
      cause: { error: Object.assign(new Error('nested'), { headers: { authorization: 's-error-header' } }) },
      loop,
      at: new Date(0),
    });
    const [line] = parsed();
    assert.equal(line.a.b.c.accessTokenSecret, REDACTED);
    assert.deepEqual(line.accounts, [{ id: 1, credentials: REDACTED }, { id: 2, oauth_signature: REDACTED }]);
    assert.equal(line.cause.error.message, 'nested');
    assert.equal(line.cause.error.headers, undefined);
    assert.deepEqual(line.loop, { name: 'loop', self: '[circular]' });
    assert.equal(line.at, '1970-01-01T00:00:00.000Z');
    assert.ok(!JSON.stringify(line).includes('s-'), JSON.stringify(line));
  });

  it('writes nothing of a value nested deeper than six levels', () => {
    const { logger, parsed } = collect('info');
    logger.info('very deep', { l1: { l2: { l3: { l4: { l5: { l6: { anything: 'hidden' } } } } } } });
    assert.equal(parsed()[0].l1.l2.l3.l4.l5.l6, '[too deep]');
  });

  it('logs an unexpected error with its type, message and stack, but not the request an HTTP error carries', () => {
    const { logger, parsed } = collect();
    const error = Object.assign(new TypeError('cannot read x'), { request: { headers: { authorization: 'OAuth very-secret' } } });
    logger.error('web request failed', { err: error });
    const [line] = parsed();
    assert.equal(line.err.type, 'TypeError');
    assert.equal(line.err.message, 'cannot read x');
    assert.match(line.err.stack, /^TypeError: cannot read x\n\s+at /);
    assert.equal(line.err.request, undefined);
  });

  it('writes nothing when silent', () => {
    const { logger, lines } = collect('silent');
    logger.error('not shown');
    assert.deepEqual(lines, []);
    silentLogger.error('not shown either');
  });

  it('writes to stderr synchronously, so a process killed right after logging keeps the line', () => {
    const logger = path.resolve(__dirname, '../../src/lib/logger.ts');
    const script = `require(${JSON.stringify(logger)}).createLogger('info').error('last words', { code: 7 }); process.kill(process.pid, 'SIGKILL');`;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    // No exit handler runs on SIGKILL: a buffered line would be lost.
    assert.equal(result.signal, 'SIGKILL', result.stderr);
    assert.equal(result.stdout, '');
    const line = JSON.parse(result.stderr.trim());
    assert.deepEqual([line.level, line.message, line.code], ['error', 'last words', 7]);
  });
});
