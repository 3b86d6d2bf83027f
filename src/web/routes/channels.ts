import express from 'express';
import { addChannel, channelSummaries, checkChannel, pauseChannel, removeChannel, resumeChannel, type ChannelInput, type ChannelSetupDeps, type ChannelValidationError } from '../../channels/channel-setup';
import { listTables, RESPONSE_MODES } from '../../kb/schema';
import { NotFoundError } from '../../lib/errors';
import { ChannelStore, CHANNEL_KINDS, CHANNEL_TAGS } from '../../store/channels';
import type { WebContext } from '../context';
import { byField, positiveId, text, type FieldErrors } from '../forms';
import { knownTable } from '../kb-tables';
import { requirePermission } from '../middleware/auth';
import { MODE_EXPLANATIONS } from './integrations';

const FIELDS = ['accountId', 'kind', 'table', 'textField', 'authorField', 'linkField', 'tagField', 'responseField', 'mode', 'continueField'] as const;
type WizardState = Record<(typeof FIELDS)[number], string> & { step: number };

const KIND_LABELS: Record<string, string> = { mentions: 'Mentions of the account', dms: 'Direct messages to the account' };

function readState(req: express.Request): WizardState {
  const step = Number(text(req, 'step'));
  const state = { step: [1, 2, 3].includes(step) ? step : 1 } as WizardState;
  for (const field of FIELDS) state[field] = text(req, field);
  state.mode ||= 'append';
  return state;
}

/**
 * The channel wizard (account and kind, table, fields), checked against the live schema by the
 * same checks as `channel add`, and the channels page: each channel with pause, resume, remove.
 */
export function channelRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();
  router.use('/channels', requirePermission('admin'));
  const deps: ChannelSetupDeps = { db: services.db, accounts: services.accounts, integrations: services.integrations, clock: services.clock };
  const store = new ChannelStore(services.db);

  router.get('/channels', async (_req, res) => {
    const accounts = new Map((await services.accounts.list()).map((account) => [account.id, account]));
    const channels = (await channelSummaries(services.db, await store.list())).map((channel) => ({ ...channel, account: accounts.get(channel.account_id as number) }));
    res.render('channels/index', { title: 'Channels', channels, kindLabels: KIND_LABELS });
  });

  async function render(res: express.Response, state: WizardState, view: { errors?: FieldErrors; warnings?: FieldErrors } = {}) {
    const table = state.table ? await knownTable(services.db, state.table) : null;
    res.render('channels/wizard', {
      title: 'New channel', state, errors: view.errors ?? {}, warnings: view.warnings ?? {}, accounts: await services.accounts.list(),
      tables: await listTables(services.db), table, kinds: CHANNEL_KINDS, kindLabels: KIND_LABELS, tags: CHANNEL_TAGS, modes: RESPONSE_MODES, modeExplanations: MODE_EXPLANATIONS,
    });
  }

  const inputOf = (state: WizardState): ChannelInput => ({ ...state });

  router.get('/channels/new', async (_req, res) => {
    await render(res, { step: 1, accountId: '', kind: 'mentions', table: '', textField: '', authorField: '', linkField: '', tagField: '', responseField: '', mode: 'append', continueField: '' });
  });

  router.post('/channels/new', async (req, res) => {
    const state = readState(req);
    if (text(req, 'nav') === 'back') return render(res, { ...state, step: Math.max(1, state.step - 1) });
    const checked = await checkChannel(deps, inputOf(state));
    const on = (fields: string[]) => byField(checked.errors.filter((problem) => fields.includes(problem.field)));
    if (state.step === 1) {
      const errors = on(['accountId', 'kind']);
      if (Object.keys(errors).length > 0) return render(res.status(400), state, { errors });
      return render(res, { ...state, step: 2 });
    }
    if (state.step === 2) {
      const errors = on(['table']);
      if (Object.keys(errors).length > 0) return render(res.status(400), state, { errors });
      return render(res, { ...state, step: 3 });
    }
    try {
      const { channel, warnings } = await addChannel(deps, inputOf(state));
      await services.webhooks.check(channel.accountId);
      await sessions.flash(req, 'success', `Channel ${channel.id} added: ${KIND_LABELS[channel.kind].toLowerCase()} become records of '${channel.tableName}'.`
        + (warnings.length > 0 ? ` Note: ${warnings.map((warning) => warning.message).join('; ')}.` : ''));
      res.redirect(303, `/channels#channel-${channel.id}`);
    } catch (error) {
      const problems = (error as ChannelValidationError).problems;
      if (!problems) throw error;
      return render(res.status(400), state, { errors: byField(problems.errors), warnings: byField(problems.warnings) });
    }
  });

  const loadId = async (param: unknown) => {
    const id = positiveId(param, 'channel id');
    if (!(await store.get(id))) throw new NotFoundError(`There is no channel ${id}.`);
    return id;
  };
  router.post('/channels/:id/pause', async (req, res) => {
    const channel = await pauseChannel(deps, await loadId(req.params.id), `paused by ${req.user?.username ?? 'an admin'}`);
    await sessions.flash(req, 'success', `Channel ${channel.id} paused: mentions and messages are kept and placed after it is resumed.`);
    res.redirect(303, '/channels');
  });
  router.post('/channels/:id/resume', async (req, res) => {
    const id = await loadId(req.params.id);
    try {
      await resumeChannel(deps, id);
      await sessions.flash(req, 'success', `Channel ${id} resumed.`);
    } catch (error) {
      if (!(error instanceof Error) || !('code' in error)) throw error;
      await sessions.flash(req, 'error', error.message);
    }
    res.redirect(303, '/channels');
  });
  router.post('/channels/:id/remove', async (req, res) => {
    const id = await loadId(req.params.id);
    await removeChannel(deps, id);
    await sessions.flash(req, 'success', `Channel ${id} removed; its records stay in the table.`);
    res.redirect(303, '/channels');
  });
  return router;
}
