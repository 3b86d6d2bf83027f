import { toIso } from '../lib/clock';
import { errorMessage } from '../lib/errors';
import type { NoRepliesAlertStore } from '../store/no-replies-alerts';
import type { SyncDeps } from './sync-deps';

// A notification receiver that does not answer within this long is given up on (and logged).
const WEBHOOK_TIMEOUT_MS = 5000;

/** What ALERT_WEBHOOK_URL receives, once per alert episode. */
export interface NoRepliesNotice {
  event: 'no_replies';
  integration_id: number;
  table: string;
  account_id: number;
  account: string | null;
  hours: number;
  /** ISO-8601; null when no reply ever arrived (the silence is counted from the integration's creation). */
  last_reply_at: string | null;
  raised_at: string;
}

export interface NoRepliesAlertDeps extends Pick<SyncDeps, 'integrations' | 'accounts' | 'clock' | 'logger' | 'metrics'> {
  alerts: NoRepliesAlertStore;
  webhookUrl: string | null;
}

export interface AlertCheck {
  raised: number[];
  cleared: number[];
  /** Settles when every notification of this check was delivered or given up on; never rejects. */
  delivered: Promise<void>;
}

async function notify(deps: NoRepliesAlertDeps, notice: NoRepliesNotice): Promise<void> {
  if (!deps.webhookUrl) return;
  try {
    const response = await fetch(deps.webhookUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(notice), signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`the receiver answered ${response.status}`);
  } catch (error) {
    // The address may carry a token in its path: the log names the host only.
    deps.logger.warn('the no-replies alert could not be sent to ALERT_WEBHOOK_URL', {
      integrationId: notice.integration_id, host: new URL(deps.webhookUrl).host, error: errorMessage(error),
    });
  }
}

/**
 * The "no replies for N hours" check: an active integration with the setting whose last reply
 * (or, without one, its creation) is more than N hours ago raises its alert — once per episode,
 * logged, on the metric, and POSTed to the webhook without waiting for it; a reply since clears it.
 * The dashboard shows the raised alerts (views/partials/no-replies-alert.ejs).
 */
export async function checkNoRepliesAlerts(deps: NoRepliesAlertDeps): Promise<AlertCheck> {
  const now = deps.clock.now();
  const integrations = await deps.integrations.list();
  const raisedBefore = new Map((await deps.alerts.list()).map((alert) => [alert.integrationId, alert]));
  const lastReplies = await deps.alerts.lastReplyAt(integrations.map((integration) => integration.id));
  const check: AlertCheck = { raised: [], cleared: [], delivered: Promise.resolve() };
  const deliveries: Array<Promise<void>> = [];
  for (const integration of integrations) {
    const hours = integration.alertNoRepliesHours;
    const lastReplyAt = lastReplies.get(integration.id) ?? null;
    const raised = raisedBefore.get(integration.id);
    // A paused integration reads no replies: its silence says nothing, and its alert waits as it is.
    if (integration.status !== 'active' && hours) continue;
    const silentSinceMs = Date.parse(lastReplyAt ?? integration.createdAt);
    const silent = hours !== null && now.toMillis() - silentSinceMs > hours * 3_600_000;
    if (silent && !raised) {
      const alert = { integrationId: integration.id, hours, lastReplyAt, raisedAt: toIso(now) };
      deps.metrics?.setNoRepliesAlert(integration.id, true);
      if (!(await deps.alerts.raise(alert))) continue; // another process raised it just now
      check.raised.push(integration.id);
      const account = await deps.accounts.get(integration.accountId);
      deps.logger.warn(`integration ${integration.id} (table ${integration.tableName}) has had no reply for more than ${hours} hours`, {
        integrationId: integration.id, lastReplyAt, hours,
      });
      deliveries.push(notify(deps, {
        event: 'no_replies', integration_id: integration.id, table: integration.tableName, account_id: integration.accountId,
        account: account?.screenName ?? null, hours, last_reply_at: lastReplyAt, raised_at: alert.raisedAt,
      }));
    } else if (raised && !silent) {
      deps.metrics?.setNoRepliesAlert(integration.id, false);
      if (!(await deps.alerts.clear(integration.id))) continue;
      check.cleared.push(integration.id);
      deps.logger.info(`integration ${integration.id} (table ${integration.tableName}): ${hours === null ? 'the no-replies alert was turned off' : 'replies arrive again'}; its no-replies alert is cleared`, {
        integrationId: integration.id, lastReplyAt,
      });
    } else {
      deps.metrics?.setNoRepliesAlert(integration.id, silent);
    }
  }
  // A removed integration's alert goes with it (its id may be given to a new one).
  for (const id of raisedBefore.keys()) if (!integrations.some((integration) => integration.id === id)) await deps.alerts.clear(id);
  check.delivered = Promise.all(deliveries).then(() => undefined);
  return check;
}

/** The daemon's timer for the check; a failed check is logged and the next one still comes. */
export function startNoRepliesAlerts(deps: NoRepliesAlertDeps, everyMs = 60_000): { stop(): void } {
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    checkNoRepliesAlerts(deps)
      .catch((error) => deps.logger.error('the no-replies alert check failed', { error: errorMessage(error) }))
      .finally(() => { running = false; });
  };
  const timer = setInterval(run, everyMs);
  timer.unref();
  run();
  return { stop: () => clearInterval(timer) };
}
