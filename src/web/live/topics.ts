import crypto from 'node:crypto';
import type { Services } from '../../app';
import { readTableRecord } from '../../kb/records';
import type { TableInfo } from '../../kb/schema';
import { errorMessage } from '../../lib/errors';
import type { ChangeArea } from '../../store/change-marks';
import { can } from '../middleware/auth';
import type { LiveChange } from './change-watcher';
import type { LiveTopic } from './event-streams';

const touches = (change: LiveChange, areas: Array<ChangeArea | 'kb'>) => areas.some((area) => change.areas.has(area));

/** The dashboard (admins only, as the page): counts, states, last and next poll, errors, headroom. */
export function dashboardTopic(): LiveTopic {
  return {
    name: 'dashboard',
    allows: (role) => can(role, 'admin'),
    concerns: async (change) => touches(change, ['communications', 'publications', 'integrations', 'polls', 'accounts']),
  };
}

/** The communications log: a new row, or a held reply written in when its integration resumed. */
export function communicationsTopic(): LiveTopic {
  return {
    name: 'communications',
    allows: (role) => can(role, 'read'),
    concerns: async (change) => touches(change, ['communications', 'integrations']),
  };
}

/**
 * One record's page: its fields, each integration's publication and conversation. A change
 * anywhere is checked against a fingerprint of just this record (its row by primary key, its
 * publications, their log rows), so the page refreshes only when it would look different.
 */
export function recordTopic(services: Services, table: TableInfo, key: string, initial: string): LiveTopic {
  let last = initial;
  return {
    name: 'record',
    allows: (role) => can(role, 'read'),
    concerns: async (change) => {
      if (!touches(change, ['communications', 'publications', 'integrations', 'accounts', 'kb'])) return false;
      const now = await recordFingerprint(services, table, key);
      if (now === last) return false;
      last = now;
      return true;
    },
  };
}

export async function recordFingerprint(services: Services, table: TableInfo, key: string): Promise<string> {
  const [record, integrations, accounts] = await Promise.all([
    // A table dropped or changed under the page is news too: the page's next fetch says what happened.
    readTableRecord(services.db, table, key).catch((error: unknown) => ({ unreadable: errorMessage(error) })),
    services.integrations.list(),
    services.accounts.list(),
  ]);
  const parts: unknown[] = [record ?? null, accounts.map((account) => [account.id, account.screenName])];
  for (const integration of integrations.filter((each) => each.tableName === table.name)) {
    const publication = await services.publications.findByRecord(integration.id, key);
    const conversation = publication ? await services.communications.listForPublication(publication.id) : [];
    // What the record's page shows of the integration: not its last poll, which moves every tick.
    parts.push([[integration.id, integration.accountId, integration.tweetField, integration.responseField, integration.continueField], publication ?? null, conversation.map((entry) => [entry.id, entry.applied, entry.notAppliedReason])]);
  }
  const text = JSON.stringify(parts, (_name, value) => (typeof value === 'bigint' ? value.toString() : value));
  return crypto.createHash('sha256').update(text).digest('base64url');
}
