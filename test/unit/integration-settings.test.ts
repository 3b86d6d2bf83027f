import assert from 'node:assert/strict';
import {
  CHANGEABLE_SETTING_KEYS, defaultOf, INTEGRATION_SETTINGS, parseSettings, rowToSettings, SETTING_KEYS, settingsToJson, settingsToRow,
  STORED_SETTING_KEYS, type IntegrationInput, type StoredSettings,
} from '../../src/settings/integration-settings';

const valid: IntegrationInput = {
  accountId: '3', table: 'articles', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going',
};

describe('integration settings schema', () => {
  it('fills in the defaults and turns the account id from text into a number', () => {
    const { values, errors } = parseSettings(valid);
    assert.deepEqual(errors, []);
    assert.deepEqual(values, {
      ...valid, accountId: 3, schedule: '*/5 * * * *', timeZone: 'UTC', longTextPolicy: 'reject', alertNoRepliesHours: null, mediaField: null, backfill: false,
    });
  });

  it('reports every wrong setting at once, each beside its field and in words', () => {
    const { errors } = parseSettings({
      accountId: 'abc', table: ' ', tweetField: '', responseField: 'replies', responseMode: 'sideways', continueField: 'keep_going',
      schedule: 'every minute', timeZone: 'Mars/Olympus', longTextPolicy: 'shout',
    });
    assert.deepEqual(errors, [
      { field: 'accountId', message: "account id must be a positive whole number, not 'abc'" },
      { field: 'table', message: 'choose a table' },
      { field: 'tweetField', message: 'choose a tweet field' },
      { field: 'responseMode', message: "response mode must be one of append, prepend, overwrite, not 'sideways'" },
      { field: 'schedule', message: "'every minute' is not a cron expression (for example */5 * * * * for every 5 minutes)" },
      { field: 'timeZone', message: "'Mars/Olympus' is not a time zone (use an IANA name such as UTC or Europe/Berlin)" },
      { field: 'longTextPolicy', message: "long-text policy must be one of reject, truncate, thread, long, not 'shout'" },
    ]);
  });

  it('accepts what node-cron and luxon accept: six-field cron expressions and IANA zones', () => {
    const { errors, values } = parseSettings({ ...valid, schedule: '*/10 * * * * *', timeZone: 'America/Argentina/Buenos_Aires' });
    assert.deepEqual(errors, []);
    assert.equal(values.schedule, '*/10 * * * * *');
    assert.deepEqual(parseSettings({ schedule: '61 * * * *' }, ['schedule']).errors.map((problem) => problem.field), ['schedule']);
    assert.deepEqual(parseSettings({ timeZone: 'GMT+1 somewhere' }, ['timeZone']).errors.map((problem) => problem.field), ['timeZone']);
  });

  it('asks for a missing account, and refuses a zero or fractional one', () => {
    assert.equal(parseSettings({}, ['accountId']).errors[0].message, 'choose the X account to tweet from');
    assert.equal(parseSettings({ accountId: '0' }, ['accountId']).errors[0].message, "account id must be a positive whole number, not '0'");
    assert.equal(parseSettings({ accountId: 1.5 }, ['accountId']).errors[0].message, "account id must be a positive whole number, not '1.5'");
  });

  it('takes the no-replies alert as whole hours, off when blank or "off", and says why otherwise', () => {
    assert.deepEqual(parseSettings({ alertNoRepliesHours: '12' }, ['alertNoRepliesHours']).values, { alertNoRepliesHours: 12 });
    assert.deepEqual(parseSettings({}, ['alertNoRepliesHours']).values, { alertNoRepliesHours: null });
    assert.deepEqual(parseSettings({ alertNoRepliesHours: 'off' }, ['alertNoRepliesHours']).values, { alertNoRepliesHours: null });
    for (const wrong of ['0', '1.5', 'soon', '9000']) {
      assert.equal(parseSettings({ alertNoRepliesHours: wrong }, ['alertNoRepliesHours']).errors[0].message,
        `the no-replies alert must be a whole number of hours from 1 to 8760, or off, not '${wrong}'`, wrong);
    }
  });

  it('checks only the settings asked for', () => {
    assert.deepEqual(parseSettings({ table: 'articles' }, ['table']), { values: { table: 'articles' }, errors: [] });
  });

  it('maps the stored settings to their columns and back, and names them as `integration list --json` does', () => {
    const stored: StoredSettings = {
      accountId: 1, tweetField: 't', responseField: 'r', responseMode: 'prepend', continueField: 'c', schedule: '0 * * * *', timeZone: 'Europe/Paris', longTextPolicy: 'thread', alertNoRepliesHours: 6, mediaField: 'pictures',
    };
    const row = settingsToRow(stored);
    assert.deepEqual(row, {
      account_id: 1, tweet_field: 't', response_field: 'r', response_mode: 'prepend', continue_field: 'c', schedule: '0 * * * *', time_zone: 'Europe/Paris', long_text_policy: 'thread', alert_no_replies_hours: 6, media_field: 'pictures',
    });
    assert.deepEqual(rowToSettings({ ...row, id: 9, status: 'active' }), stored);
    assert.deepEqual(settingsToJson(stored), {
      account_id: 1, tweet_field: 't', response_field: 'r', mode: 'prepend', continue_field: 'c', every: '0 * * * *', timezone: 'Europe/Paris', long_text: 'thread', alert_no_replies_hours: 6, media_field: 'pictures',
    });
    assert.deepEqual(settingsToRow({ schedule: '* * * * *' }), { schedule: '* * * * *' }, 'a partial change writes only its columns');
  });

  it('keeps account, table and backfill out of what an update may change, and describes each setting once', () => {
    assert.deepEqual(CHANGEABLE_SETTING_KEYS, ['tweetField', 'responseField', 'responseMode', 'continueField', 'schedule', 'timeZone', 'longTextPolicy', 'alertNoRepliesHours', 'mediaField']);
    assert.ok(!STORED_SETTING_KEYS.includes('table' as never) && !STORED_SETTING_KEYS.includes('backfill' as never));
    const options = SETTING_KEYS.map((key) => INTEGRATION_SETTINGS[key].option.split(' ')[0]);
    assert.equal(new Set(options).size, options.length, 'each setting has its own option');
    for (const key of SETTING_KEYS) {
      assert.ok(!(INTEGRATION_SETTINGS[key].required && defaultOf(key) !== undefined), `${key} is either required or has a default`);
    }
  });
});
