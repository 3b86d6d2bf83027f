import express from 'express';
import { createExampleTable } from '../../kb/example-table';
import { countRecords, insertRecord, listRecords, readTableRecord, updateRecord, type FieldValues, type KbRecord } from '../../kb/records';
import { listTables, type TableInfo } from '../../kb/schema';
import { parseYesNo } from '../../kb/yes-no';
import { NotFoundError, UserFacingError, ValidationError, errorMessage } from '../../lib/errors';
import type { Integration } from '../../store/integrations';
import type { WebContext } from '../context';
import { knownTableOrFail, pathProblem } from '../kb-tables';
import { byName, pageNumber, raw, type FieldErrors } from '../forms';
import { can, requirePermission } from '../middleware/auth';
import { FORM_TOKEN_FIELD } from '../middleware/form-once';
import { MAX_TWEET_WEIGHT, tweetOutcome } from '../../sync/tweet-outcome';
import { PUBLICATION_STATES } from '../../store/publications';
import { readStateFilter, recordsInState } from '../state-filter';
import { postsExhaustedUntil } from '../../sync/poll-cycle';
import { talkbackView } from './agent-replies';
import { channelReplyView } from './channel-replies';
import { mediaInEntry } from '../../sync/response-format';
import { mediaOnRecordPage } from './media';

const PAGE_SIZE = 25;

/** An auto-numbered key (SQLite INTEGER PRIMARY KEY, PostgreSQL serial) may be left blank. */
function keyMayBeBlank(table: TableInfo): boolean {
  return table.primaryKey.length === 1 && /int/i.test(table.columns.find((column) => column.name === table.primaryKey[0])?.type ?? '');
}

/**
 * A record's values from the form, for the table's own columns only. On create a blank field is
 * left out (the column's default applies); on edit it becomes NULL where allowed.
 */
function readValues(req: express.Request, table: TableInfo, editing: boolean): { values: FieldValues; errors: FieldErrors } {
  // Keyed by column names, which may be `constructor` or `__proto__`: no prototype to collide with.
  const values: FieldValues = new Map();
  const errors: FieldErrors = byName();
  for (const column of table.columns) {
    const isKey = table.primaryKey.includes(column.name);
    if (editing && isKey) continue;
    const value = raw(req, `field:${column.name}`);
    if (value.trim() === '') {
      if (!editing) {
        if (isKey && !keyMayBeBlank(table)) errors[column.name] = ['the key is needed'];
        continue;
      }
      values.set(column.name, column.nullable ? null : '');
      continue;
    }
    if (column.maxLength !== null && value.length > column.maxLength) {
      errors[column.name] = [`at most ${column.maxLength} characters (this is ${value.length})`];
      continue;
    }
    values.set(column.name, value);
  }
  return { values, errors };
}

const recordPurpose = (table: TableInfo) => `record:${table.name}`;

/**
 * What the publisher will do, on commit, with a new record's text under the integration's long-text policy
 * and continue field, from the sync's own plan (src/sync/tweet-outcome.ts, shared with the form's
 * live counter).
 */
export function whatWillHappen(integration: Integration, record: (name: string) => unknown): string {
  // A running daemon publishes on commit, whatever the integration's reply polling frequency.
  const run = `right away by integration ${integration.id}`;
  const outcome = tweetOutcome(record(integration.tweetField), integration.longTextPolicy, record(integration.continueField));
  const weighed = `${outcome.weight} of ${MAX_TWEET_WEIGHT} weighted characters`;
  switch (outcome.kind) {
    case 'held': return `It will not be tweeted by integration ${integration.id}: its ${outcome.reason}.`;
    case 'empty': return `It will be rejected ${run}: ${outcome.reason}.`;
    case 'rejected': return outcome.weight > MAX_TWEET_WEIGHT
      ? `It will be rejected ${run}: ${weighed} (long-text policy: ${integration.longTextPolicy}).`
      : `It will be rejected ${run}: ${outcome.reason}.`;
    case 'fits': return `It will be tweeted ${run} (${weighed}).`;
    case 'thread': return `It will be posted in ${outcome.parts} parts ${run}: ${weighed}, as a thread.`;
    case 'truncated': return `It will be truncated ${run}: ${weighed}, cut to fit with "…".`;
  }
}

/** The KB's tables and records: reading for everyone signed in, creating and editing for editors and admins. */
export function recordRoutes(context: WebContext): express.Router {
  const { services, sessions, forms } = context;
  const router = express.Router();
  const integrationsOf = async (table: string) => (await services.integrations.list()).filter((integration) => integration.tableName === table);

  /**
   * The KB's refusal beside the field it concerns. Anything the KB side could not put in words
   * is logged for the admin and shown without its SQL text.
   */
  const refusalOnForm = (error: unknown, what: 'record' | 'change'): { formError: string | null; fieldErrors: FieldErrors } => {
    if (error instanceof ValidationError) {
      return error.field
        ? { formError: `The database refused the ${what}; see the field marked below.`, fieldErrors: byName([[error.field, [error.message]]]) }
        : { formError: `The database refused the ${what}: ${error.message}.`, fieldErrors: byName() };
    }
    services.logger.error('the KB refused a record write', { error: errorMessage(error) });
    return { formError: `The database refused the ${what} for a reason this page cannot name; the server log has the details.`, fieldErrors: byName() };
  };

  /** The integrations that already tweeted the record (or are sending it): its text is no longer theirs to count. */
  const onX = async (integrations: Integration[], key: string): Promise<Set<number>> => {
    const publications = await Promise.all(integrations.map((integration) => services.publications.findByRecord(integration.id, key)));
    return new Set(publications.filter((publication) => publication && (publication.state === 'sent' || publication.state === 'sending' || publication.tweetId)).map((publication) => publication!.integrationId));
  };

  /** Columns that are some integration's continue field get a Yes / No / blank choice. */
  const yesNoColumns = (integrations: Integration[]) => new Set(integrations.map((integration) => integration.continueField));

  router.get('/records', async (_req, res) => {
    const integrations = await services.integrations.list();
    // A table the product cannot open is listed with the reason, never breaking the page.
    const tables = await Promise.all((await listTables(services.db)).map(async (name) => {
      let count: number | null = null;
      let problem = pathProblem(name);
      if (!problem) {
        try {
          count = await countRecords(services.db, name);
        } catch (error) {
          problem = `cannot be read: ${errorMessage(error)}`;
        }
      }
      return { name, count, problem, integrations: integrations.filter((integration) => integration.tableName === name) };
    }));
    res.render('records/tables', { title: 'Records', tables });
  });

  router.post('/example-table', requirePermission('admin'), async (req, res) => {
    try {
      const table = await createExampleTable(services.db);
      await sessions.flash(req, 'success', `The example table '${table}' was created. Map it in the integration wizard.`);
      res.redirect(303, `/records/${table}`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', error.message);
      res.redirect(303, '/records');
    }
  });

  router.get('/records/:table', async (req, res) => {
    const table = await knownTableOrFail(services.db, req.params.table);
    const page = pageNumber(req);
    const integrations = await integrationsOf(table.name);
    // Whose states the list shows, and which it keeps: ?integration=2&state=failed (validated).
    const filter = readStateFilter(req.query, table, integrations);
    const pageWindow = { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE };
    const { total, records: rows } = filter.integration && filter.state
      ? await recordsInState(services.db, services.publications, table, { integration: filter.integration, state: filter.state }, pageWindow)
      : { total: await countRecords(services.db, table.name), records: await listRecords(services.db, table, pageWindow) };
    const key = table.primaryKey.length === 1 ? table.primaryKey[0] : null;
    const states = new Map<string, string>();
    if (key && filter.integration) {
      for (const row of rows) {
        const publication = await services.publications.findByRecord(filter.integration.id, String(row[key]));
        if (publication) states.set(String(row[key]), publication.state);
      }
    }
    const chosen = new URLSearchParams();
    if (filter.integration && integrations.length > 1) chosen.set('integration', String(filter.integration.id));
    if (filter.state) chosen.set('state', filter.state);
    const pageHref = (number: number) => `?${new URLSearchParams([...chosen, ['page', String(number)]]).toString()}`;
    res.render('records/list', {
      title: `Table ${table.name}`, table, rows, key, page, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)), total, states, integrations,
      filter, publicationStates: PUBLICATION_STATES, pageHref,
    });
  });

  router.get('/records/:table/new', requirePermission('write-records'), async (req, res) => {
    const table = await knownTableOrFail(services.db, req.params.table);
    const integrations = await integrationsOf(table.name);
    res.render('records/form', {
      title: `New record in ${table.name}`, maxTweetWeight: MAX_TWEET_WEIGHT, onX: new Set<number>(), table, record: null, recordKey: null, values: byName(), errors: byName(), formError: null,
      yesNo: yesNoColumns(integrations), integrations, keyMayBeBlank: keyMayBeBlank(table),
      formToken: await forms.issueFormToken(req, recordPurpose(table)),
    });
  });

  router.post('/records/:table', requirePermission('write-records'), async (req, res) => {
    const table = await knownTableOrFail(services.db, req.params.table);
    const integrations = await integrationsOf(table.name);
    const { values, errors } = readValues(req, table, false);
    const again = (status: number, formError: string | null, fieldErrors: FieldErrors, formToken: string | null) => res.status(status).render('records/form', {
      title: `New record in ${table.name}`, maxTweetWeight: MAX_TWEET_WEIGHT, onX: new Set<number>(), table, record: null, recordKey: null, values: byName(table.columns.map((column) => [column.name, raw(req, `field:${column.name}`)])),
      errors: fieldErrors, formError, yesNo: yesNoColumns(integrations), integrations, keyMayBeBlank: keyMayBeBlank(table), formToken,
    });
    const sentToken = raw(req, FORM_TOKEN_FIELD) || null;
    if (Object.keys(errors).length > 0) return again(400, null, errors, sentToken);
    const submission = await forms.submitOnce(req, recordPurpose(table));
    if (submission.kind === 'repeat') {
      await sessions.flash(req, 'info', 'This form had already been sent: here is the record it created. No second record was made.');
      return res.redirect(303, submission.result);
    }
    if (submission.kind === 'stale') return again(409, submission.message, byName(), await forms.issueFormToken(req, recordPurpose(table)));
    let key: string | null;
    try {
      key = await insertRecord(services.db, table, values);
    } catch (error) {
      await submission.release();
      const refusal = refusalOnForm(error, 'record');
      return again(400, refusal.formError, refusal.fieldErrors, submission.token);
    }
    // Committed: the publisher of this process tweets it now, whatever the polling frequency.
    services.signals.recordsChanged(table.name);
    const location = key === null ? `/records/${encodeURIComponent(table.name)}` : `/records/${encodeURIComponent(table.name)}/rows/${encodeURIComponent(key)}`;
    await submission.finish(location);
    const created = key === null ? undefined : await readTableRecord(services.db, table, key);
    const field = (name: string) => (created ? created[name] : values.get(name));
    const notice = integrations.map((integration) => ` ${whatWillHappen(integration, field)}`).join('');
    await sessions.flash(req, 'success', `Record ${key ?? ''} created in '${table.name}'.${notice}`);
    res.redirect(303, location);
  });

  async function loadRecord(tableParam: unknown, keyParam: unknown): Promise<{ table: TableInfo; key: string; record: KbRecord }> {
    const table = await knownTableOrFail(services.db, tableParam);
    if (table.primaryKey.length !== 1) throw new NotFoundError(`Table '${table.name}' has no single-column primary key, so its records cannot be opened one by one.`);
    const key = String(keyParam);
    const record = await readTableRecord(services.db, table, key);
    if (!record) throw new NotFoundError(`Table '${table.name}' has no record ${key}.`);
    return { table, key, record };
  }

  router.get('/records/:table/rows/:key', async (req, res) => {
    const { table, key, record } = await loadRecord(req.params.table, req.params.key);
    const integrations = await integrationsOf(table.name);
    const accounts = new Map((await services.accounts.list()).map((account) => [account.id, account]));
    const publications = await Promise.all(integrations.map(async (integration) => {
      const publication = await services.publications.findByRecord(integration.id, key);
      const continueValue = parseYesNo(record[integration.continueField]);
      const account = accounts.get(integration.accountId);
      return {
        integration,
        account,
        publication,
        // Past X's post limit a pending record waits; the page says until when.
        postsWaitUntil: account ? postsExhaustedUntil(account, services.clock.now()) : null,
        continueValue,
        conversation: publication ? await services.communications.listForPublication(publication.id) : [],
        talkback: await talkbackView(services, integration, account, publication, req.user, key),
      };
    }));
    res.render('records/show', {
      title: `${table.name} record ${key}`, table, key, record, publications,
      responseFields: new Set(integrations.map((integration) => integration.responseField)),
      tweetFields: new Set(integrations.map((integration) => integration.tweetField)),
      canEdit: can(req.user?.role, 'write-records'),
      media: await mediaOnRecordPage(services, integrations, record, new Map(publications.map((p) => [p.integration.id, p.publication?.id ?? null]))), mediaInEntry,
      channelReply: await channelReplyView(services, table.name, key, req.user),
    });
  });

  router.get('/records/:table/rows/:key/edit', requirePermission('write-records'), async (req, res) => {
    const { table, key, record } = await loadRecord(req.params.table, req.params.key);
    const integrations = await integrationsOf(table.name);
    res.render('records/form', {
      title: `Edit ${table.name} record ${key}`, maxTweetWeight: MAX_TWEET_WEIGHT, onX: await onX(integrations, key), table, record, recordKey: key,
      values: byName(table.columns.map((column) => [column.name, record[column.name] === null || record[column.name] === undefined ? '' : String(record[column.name])])),
      errors: byName(), formError: null, yesNo: yesNoColumns(integrations), integrations, keyMayBeBlank: false,
    });
  });

  router.post('/records/:table/rows/:key', requirePermission('write-records'), async (req, res) => {
    const { table, key, record } = await loadRecord(req.params.table, req.params.key);
    const integrations = await integrationsOf(table.name);
    const { values, errors } = readValues(req, table, true);
    const tweeted = await onX(integrations, key);
    const again = (status: number, formError: string | null, fieldErrors: FieldErrors) => res.status(status).render('records/form', {
      title: `Edit ${table.name} record ${key}`, maxTweetWeight: MAX_TWEET_WEIGHT, onX: tweeted, table, record, recordKey: key,
      values: byName(table.columns.map((column) => [column.name, raw(req, `field:${column.name}`)])),
      errors: fieldErrors, formError, yesNo: yesNoColumns(integrations), integrations, keyMayBeBlank: false,
    });
    if (Object.keys(errors).length > 0) return again(400, null, errors);
    try {
      await updateRecord(services.db, table, key, values);
    } catch (error) {
      const refusal = refusalOnForm(error, 'change');
      return again(400, refusal.formError, refusal.fieldErrors);
    }
    await sessions.flash(req, 'success', `Record ${key} saved. Its tweet, if already sent, stays as posted.`);
    res.redirect(303, `/records/${encodeURIComponent(table.name)}/rows/${encodeURIComponent(key)}`);
  });

  return router;
}
