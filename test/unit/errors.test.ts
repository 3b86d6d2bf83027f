import assert from 'node:assert/strict';
import {
  ConfigError, createError, ERROR_CODES, NotFoundError, SecretUnreadableError, UnreadableTableError, UserFacingError, ValidationError,
} from '../../src/lib/errors';
import { SecretBox } from '../../src/lib/secret-box';

describe('errors meant for people', () => {
  it('builds each class from a registered code, with that code\'s status', () => {
    for (const [errorClass, code] of [
      [ValidationError, 'validation'], [NotFoundError, 'not_found'], [ConfigError, 'config'],
      [SecretUnreadableError, 'secret_unreadable'], [UnreadableTableError, 'kb_table_unreadable'],
    ] as const) {
      const error = new errorClass('what went wrong, in words');
      assert.ok(error instanceof UserFacingError);
      assert.ok(error instanceof errorClass);
      assert.equal(error.code, code);
      assert.equal(error.status, ERROR_CODES[code]);
      assert.equal(error.name, errorClass.name);
    }
  });

  it('tells the classes apart by instanceof', () => {
    assert.equal(new NotFoundError('gone') instanceof ValidationError, false);
  });

  it('keeps the field a validation error belongs to', () => {
    assert.equal(new ValidationError('pick another name', 'exampleTable').field, 'exampleTable');
  });

  it('refuses a second class for a code', () => {
    assert.throws(() => createError('validation', 'AnotherValidationError'), /already has a class/);
  });

  it('makes a stored secret that this SECRET_KEY cannot open an error for people, not a bug', () => {
    const sealed = new SecretBox('the key it was stored with').seal('token');
    assert.throws(() => new SecretBox('another key').open(sealed), (error: unknown) => error instanceof SecretUnreadableError);
    assert.throws(() => new SecretBox('another key').open('garbage'), (error: unknown) => error instanceof SecretUnreadableError);
    assert.throws(() => new SecretBox(''), (error: unknown) => error instanceof ConfigError);
  });
});
