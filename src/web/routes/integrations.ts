import express from 'express';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { listRecords } from '../../kb/records';
import { continueCandidates, listTables, quoteSamples, RESPONSE_MODES } from '../../kb/schema';
import { NotFoundError } from '../../lib/errors';
import {
  addIntegration, checkIntegration, DEFAULT_SCHEDULE, pauseIntegration, removeIntegration, resumeIntegration, storedInput, updateIntegration,
  type IntegrationInput, type IntegrationProblems, type IntegrationValidationError,
} from '../../setup/integration-setup';
import { CHANGEABLE_SETTING_KEYS, defaultOf, isFlag, LONG_TEXT_POLICIES, parseSettings, SETTING_KEYS, type SettingKey } from '../../settings/integration-settings';
import type { Integration } from '../../store/integrations';
import { applyEntries, formatEntry } from '../../sync/response-format';
import { MAX_TWEET_WEIGHT, weightedLength } from '../../twitter/weighted-length';
import type { WebContext } from '../context';
import { byField, positiveId, raw, text, type FieldErrors } from '../forms';
import { knownTable } from '../kb-tables';
import { wizardPricing } from '../price-notes';
import { requirePermission } from '../middleware/auth';
import { FORM_TOKEN_FIELD } from '../middleware/form-once';

/** The wizard's choices of polling frequency; anything else is a cron expression. */
export const FREQUENCIES: Record<string, { schedule: string; label: string }> = {
  1: { schedule: '* * * * *', label: 'every minute' },
  5: { schedule: '*/5 * * * *', label: 'every 5 minutes' },
  15: { schedule: '*/15 * * * *', label: 'every 15 minutes' },
  30: { schedule: '*/30 * * * *', label: 'every 30 minutes' },
  60: { schedule: '0 * * * *', label: 'every 60 minutes' },
};

export const MODE_EXPLANATIONS: Record<string, string> = {
  append: 'adds each reply after what the field holds, so it reads top-down in time order',
  prepend: 'adds each reply before what the field holds, so the newest reply is on top',
  overwrite: 'replaces what the field holds with the newest reply',
};

export const LONG_TEXT_EXPLANATIONS: Record<string, string> = {
  reject: 'a text over 280 characters is not tweeted; the record shows why',
  truncate: 'a text over 280 characters is cut to fit, ending with an ellipsis',
  thread: 'a text over 280 characters is posted as numbered parts, each a reply to the one before',
  long: 'a text over 280 characters is posted whole as one long post (up to 25,000 characters); only for accounts X allows long posts (X Premium)',
};

// The settings the wizard's form sends under their own names; the schedule is sent as a
// frequency choice or a cron expression, and flags (the backfill) as checkboxes.
type TextSettingKey = Exclude<SettingKey, 'schedule' | 'backfill'>;
const TEXT_SETTINGS = SETTING_KEYS.filter((key) => key !== 'schedule' && !isFlag(key)) as TextSettingKey[];
const FORM_KEYS = [...TEXT_SETTINGS, 'frequency', 'cron'];

/** Everything the wizard carries from step to step, as the form sends it. */
type WizardState = Record<TextSettingKey, string> & { step: number; frequency: string; cron: string; backfill: boolean };

const STEP_TITLES = ['Account', 'Table', 'Fields', 'Review'];

/** What a new integration's form starts with: the settings' defaults, and appending replies. */
function preselected(): Record<TextSettingKey, string> {
  const values = Object.fromEntries(TEXT_SETTINGS.map((key) => [key, String(defaultOf(key) ?? '')])) as Record<TextSettingKey, string>;
  return { ...values, responseMode: 'append' };
}

function blankState(): WizardState {
  return { step: 1, ...preselected(), frequency: '5', cron: '', backfill: false };
}

// A form field is one string; anything else (missing, repeated, an object) counts as empty.
const formText = z.string().trim().catch('');

/**
 * The wizard's form as it arrives. Only the shape is checked here: the settings' own rules
 * (settings/integration-settings.ts) judge the values, so their messages appear beside the fields.
 */
const wizardForm = z.object({
  step: z.coerce.number().int().min(1).max(4).catch(1),
  ...(Object.fromEntries(TEXT_SETTINGS.map((key) => [key, formText])) as Record<TextSettingKey, typeof formText>),
  frequency: z.enum(['cron', ...Object.keys(FREQUENCIES)]).catch('5'),
  cron: formText,
  backfill: z.union([z.literal('on'), z.literal('true'), z.literal('1'), z.literal('yes')]).transform(() => true).catch(false),
});

function readState(req: express.Request): WizardState {
  const form = wizardForm.parse(req.body ?? {});
  const fallback = preselected();
  for (const key of TEXT_SETTINGS) form[key] ||= fallback[key];
  return form;
}

function stateOf(integration: Integration): WizardState {
  const stored = storedInput(integration);
  const frequency = Object.entries(FREQUENCIES).find(([, choice]) => choice.schedule === integration.schedule)?.[0];
  return {
    step: 3,
    ...(Object.fromEntries(TEXT_SETTINGS.map((key) => [key, String(stored[key] ?? '')])) as Record<TextSettingKey, string>),
    frequency: frequency ?? 'cron',
    cron: frequency ? '' : integration.schedule,
    backfill: false,
  };
}

function scheduleOf(state: WizardState): string {
  return state.frequency === 'cron' ? state.cron : FREQUENCIES[state.frequency]?.schedule ?? DEFAULT_SCHEDULE;
}

function inputOf(state: WizardState): IntegrationInput {
  return { ...Object.fromEntries(TEXT_SETTINGS.map((key) => [key, state[key]])), schedule: scheduleOf(state), backfill: state.backfill };
}

/** Problems about the schedule belong beside the frequency choice. */
function fieldErrors(problems: Array<{ field: string; message: string }>): FieldErrors {
  return byField(problems.map((problem) => ({ ...problem, field: problem.field === 'schedule' ? 'frequency' : problem.field })));
}

/** How the chosen mode and zone will look: two sample replies written into an empty field. */
function previewEntries(state: WizardState, now: DateTime): { entry: string; field: string } {
  const first = { createdAt: now.minus({ hours: 2 }).startOf('minute').toISO() as string, username: 'alice', text: 'Thanks, this answered my question.' };
  const second = { createdAt: now.minus({ minutes: 25 }).startOf('minute').toISO() as string, username: 'bob', text: 'Is there a follow-up planned?' };
  const zone = DateTime.now().setZone(state.timeZone).isValid ? state.timeZone : 'UTC';
  const entries = [formatEntry(first, zone), formatEntry(second, zone)];
  const mode = (RESPONSE_MODES as readonly string[]).includes(state.responseMode) ? state.responseMode : 'append';
  return { entry: entries[0], field: applyEntries('', entries, mode as (typeof RESPONSE_MODES)[number]) };
}

/** The integration wizard (account → table → fields → review), editing, pausing, resuming and removing. Admins only. */
const NEW_INTEGRATION = 'integration:new';

export function integrationRoutes({ services, sessions, scheduler, forms }: WebContext): express.Router {
  const deps = services.integrationSetup;
  const router = express.Router();
  router.use('/integrations', requirePermission('admin'));
  const timeZones = ['UTC', ...Intl.supportedValuesOf('timeZone').filter((zone) => zone !== 'UTC')];

  async function loadIntegration(idParam: unknown): Promise<Integration> {
    const integration = await services.integrations.get(positiveId(idParam, 'integration id'));
    if (!integration) throw new NotFoundError(`Integration ${String(idParam)} does not exist.`);
    return integration;
  }

  async function render(res: express.Response, state: WizardState, view: {
    editing?: Integration; errors?: FieldErrors; warnings?: FieldErrors; problems?: IntegrationProblems | null; formError?: string | null;
  } = {}) {
    const accounts = await services.accounts.list();
    const tables = await listTables(services.db);
    const table = state.table ? await knownTable(services.db, state.table) : null;
    // The account's integrations on this table: a new one must tweet another field (one per field).
    const accountId = Number(view.editing?.accountId ?? state.accountId);
    const siblings = table && Number.isInteger(accountId) && accountId > 0
      ? (await services.integrations.listForAccount(accountId)).filter((integration) => integration.tableName === table.name && integration.id !== view.editing?.id)
      : [];
    let tweetPreview: { text: string; length: number } | null = null;
    if (state.step === 4 && table && state.tweetField) {
      const [newest] = await listRecords(services.db, table, { limit: 1, offset: 0 });
      const value = newest?.[state.tweetField];
      if (value !== undefined && value !== null && String(value).trim() !== '') tweetPreview = { text: String(value), length: weightedLength(String(value)) };
    }
    res.render('integrations/wizard', {
      title: view.editing ? `Edit integration ${view.editing.id}` : `New integration: ${STEP_TITLES[state.step - 1].toLowerCase()}`,
      stepTitles: STEP_TITLES,
      formKeys: FORM_KEYS,
      state,
      editing: view.editing ?? null,
      account: accounts.find((account) => String(account.id) === state.accountId) ?? null,
      accounts,
      tables,
      table,
      timeZones,
      errors: view.errors ?? {},
      warnings: view.warnings ?? {},
      existingRecords: view.problems?.existingRecords ?? null,
      duplicateOf: view.problems?.duplicateOf ?? null,
      continueChoices: table && state.step === 3 ? await continueCandidates(services.db, table) : null,
      quoteSamples,
      siblings,
      formError: view.formError ?? null,
      preview: previewEntries(state, services.clock.now()),
      tweetPreview,
      pricing: state.step === 4 && table && state.tweetField
        ? await wizardPricing(services.db, table, state.tweetField, view.problems?.existingRecords ?? null, tweetPreview?.text ?? null, services.costs.meter.prices) : null,
      maxTweet: MAX_TWEET_WEIGHT,
      schedule: scheduleOf(state),
      frequencies: FREQUENCIES,
      modes: RESPONSE_MODES,
      modeExplanations: MODE_EXPLANATIONS,
      longTextPolicies: LONG_TEXT_POLICIES,
      longTextExplanations: LONG_TEXT_EXPLANATIONS,
    });
  }

  /** Step 3 again, with the refusals beside their fields. */
  function renderRefused(res: express.Response, state: WizardState, problems: IntegrationProblems) {
    return render(res.status(400), { ...state, step: 3 }, { errors: fieldErrors(problems.errors), warnings: fieldErrors(problems.warnings), problems });
  }

  router.get('/integrations', (_req, res) => res.redirect(303, '/'));

  router.get('/integrations/new', async (req, res) => {
    const state = blankState();
    const table = typeof req.query.table === 'string' ? await knownTable(services.db, req.query.table) : null;
    if (table) state.table = table.name;
    const accounts = await services.accounts.list();
    if (accounts.length === 1) state.accountId = String(accounts[0].id);
    // One token for the whole wizard, carried through its steps: Back + Create makes one integration.
    res.locals.formToken = await forms.issueFormToken(req, NEW_INTEGRATION);
    await render(res, state);
  });

  router.post('/integrations/new', async (req, res) => {
    res.locals.formToken = raw(req, FORM_TOKEN_FIELD) || null;
    const state = readState(req);
    if (text(req, 'nav') === 'back') {
      state.step = Math.max(1, state.step - 1);
      return render(res, state);
    }
    if (state.step === 1) {
      const { values, errors } = parseSettings(inputOf(state), ['accountId']);
      if (errors.length > 0 || !(await services.accounts.get(values.accountId as number))) {
        return render(res.status(400), state, { errors: { accountId: ['choose the X account to tweet from'] } });
      }
      return render(res, { ...state, step: 2 });
    }
    if (state.step === 2) {
      const table = await knownTable(services.db, state.table);
      if (!table) return render(res.status(400), state, { errors: { table: [state.table ? `table '${state.table}' does not exist in the knowledgebase` : 'choose a table'] } });
      const problems = await checkIntegration(deps, { ...inputOf(state), tweetField: '', responseField: '', continueField: '' });
      const tableErrors = problems.errors.filter((problem) => problem.field === 'table');
      if (tableErrors.length > 0) return render(res.status(400), state, { errors: fieldErrors(tableErrors) });
      return render(res, { ...state, table: table.name, step: 3 });
    }
    if (state.step === 3) {
      const problems = await checkIntegration(deps, inputOf(state));
      if (problems.errors.length > 0) return renderRefused(res, state, problems);
      return render(res, { ...state, step: 4 }, { warnings: fieldErrors(problems.warnings), problems });
    }
    // The form token first: Back + Create again finds the integration this wizard made (which the
    // duplicate check would refuse as a twin of itself) and shows it.
    const submission = await forms.submitOnce(req, NEW_INTEGRATION);
    if (submission.kind === 'repeat') {
      await sessions.flash(req, 'info', `This wizard had already created ${submission.result}; no second integration was made.`);
      const id = /^integration (\d+)$/.exec(submission.result)?.[1];
      return res.redirect(303, id ? `/#integration-${id}` : '/');
    }
    if (submission.kind === 'stale') {
      res.locals.formToken = await forms.issueFormToken(req, NEW_INTEGRATION);
      return render(res.status(409), state, { formError: submission.message.replace('the record', 'the integration') });
    }
    try {
      const { integration, backfilled } = await addIntegration(deps, inputOf(state)).catch(async (error: unknown) => {
        await submission.release();
        throw error;
      });
      await submission.finish(`integration ${integration.id}`);
      await scheduler.refresh();
      await sessions.flash(req, 'success', `Integration ${integration.id} created: new records of '${integration.tableName}' are tweeted ${describeSchedule(integration.schedule)}.`
        + (state.backfill ? ` ${backfilled} existing records will be tweeted too.` : ''));
      res.redirect(303, `/#integration-${integration.id}`);
    } catch (error) {
      const problemsNow = (error as IntegrationValidationError).problems;
      if (!problemsNow) throw error;
      return renderRefused(res, state, problemsNow);
    }
  });

  router.get('/integrations/:id/edit', async (req, res) => {
    const integration = await loadIntegration(req.params.id);
    const state = stateOf(integration);
    const problems = await checkIntegration(deps, inputOf(state), integration.id);
    await render(res, state, { editing: integration, problems, errors: fieldErrors(problems.errors), warnings: fieldErrors(problems.warnings.filter((warning) => warning.field !== 'table')) });
  });

  router.post('/integrations/:id/edit', async (req, res) => {
    const integration = await loadIntegration(req.params.id);
    const state = { ...readState(req), step: 3, accountId: String(integration.accountId), table: integration.tableName };
    try {
      const input = inputOf(state);
      const { warnings } = await updateIntegration(deps, integration.id, Object.fromEntries(CHANGEABLE_SETTING_KEYS.map((key) => [key, input[key]])));
      await scheduler.refresh();
      await sessions.flash(req, 'success', `Integration ${integration.id} saved.${warnings.length ? ` Note: ${warnings.map((warning) => warning.message).join('; ')}.` : ''}`);
      res.redirect(303, '/');
    } catch (error) {
      const problems = (error as IntegrationValidationError).problems;
      if (!problems) throw error;
      return render(res.status(400), state, { editing: integration, problems, errors: fieldErrors(problems.errors), warnings: fieldErrors(problems.warnings) });
    }
  });

  router.post('/integrations/:id/pause', async (req, res) => {
    const integration = await pauseIntegration(deps, (await loadIntegration(req.params.id)).id, `paused by ${req.user?.username ?? 'an admin'}`);
    await scheduler.refresh();
    await sessions.flash(req, 'success', `Integration ${integration.id} paused. New records are still captured and will be tweeted after it is resumed.`);
    res.redirect(303, '/');
  });

  router.post('/integrations/:id/resume', async (req, res) => {
    const integration = await resumeIntegration(deps, (await loadIntegration(req.params.id)).id);
    await scheduler.refresh();
    await sessions.flash(req, 'success', `Integration ${integration.id} resumed.`);
    res.redirect(303, '/');
  });

  router.get('/integrations/:id/remove', async (req, res) => {
    const integration = await loadIntegration(req.params.id);
    res.render('confirm', {
      title: `Remove integration ${integration.id}`,
      question: `Remove integration ${integration.id} (table '${integration.tableName}')?`,
      details: 'Its capture trigger is dropped, so new records are no longer tweeted and replies are no longer collected. '
        + 'The records, the tweets already posted and the communications log stay.',
      action: `/integrations/${integration.id}/remove`,
      button: 'Remove integration',
      disabled: false,
      cancel: '/',
    });
  });

  router.post('/integrations/:id/remove', async (req, res) => {
    const integration = await loadIntegration(req.params.id);
    await removeIntegration(deps, integration.id);
    await scheduler.refresh();
    await sessions.flash(req, 'success', `Integration ${integration.id} removed.`);
    res.redirect(303, '/');
  });

  return router;
}

export function describeSchedule(schedule: string): string {
  const known = Object.values(FREQUENCIES).find((choice) => choice.schedule === schedule);
  return known ? known.label : `on the schedule '${schedule}'`;
}

