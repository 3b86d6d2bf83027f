import express from 'express';
import { UserFacingError } from '../../lib/errors';
import { retryRecords } from '../../setup/integration-setup';
import type { WebContext } from '../context';
import { positiveId, raw } from '../forms';
import { knownTableOrFail } from '../kb-tables';
import { requirePermission } from '../middleware/auth';

const recordPage = (table: string, key: string) => `/records/${encodeURIComponent(table)}/rows/${encodeURIComponent(key)}`;

/**
 * Retry from the web: one record from its page (editors and admins), an integration's failed
 * records from the dashboard (admins). Both only put records back to pending; the next run
 * decides, and a record with anything on X is never touched.
 */
export function retryRoutes({ services, sessions }: WebContext): express.Router {
  const router = express.Router();

  router.post('/records/:table/rows/:key/retry', requirePermission('write-records'), async (req, res) => {
    // Only a table introspection lists (never the product's own): anything else is a 404, as on every record route.
    const table = (await knownTableOrFail(services.db, req.params.table)).name;
    const key = String(req.params.key);
    const integration = await services.integrations.get(positiveId(raw(req, 'integration'), 'integration id'));
    if (!integration || integration.tableName !== table) {
      await sessions.flash(req, 'error', `No integration ${raw(req, 'integration')} maps table '${table}'.`);
      return res.redirect(303, recordPage(table, key));
    }
    try {
      const { retried } = await retryRecords(services.integrationSetup, integration.id, key);
      // Pending again: a running publisher of this process takes it now.
      if (retried.length > 0) services.signals.recordsChanged(integration.tableName);
      await sessions.flash(req, 'success', retried.length > 0
        ? `Record ${key} is pending again for integration ${integration.id}: the next run tweets it if its text, its continue field and the long-text policy (${integration.longTextPolicy}) allow.`
        : `Record ${key} is already pending for integration ${integration.id}: the next run tries it.`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', `Record ${key} was not retried: ${error.message}.`);
    }
    res.redirect(303, recordPage(table, key));
  });

  router.post('/integrations/:id/retry', requirePermission('admin'), async (req, res) => {
    const id = positiveId(req.params.id, 'integration id');
    try {
      const { retried } = await retryRecords(services.integrationSetup, id, null, ['failed']);
      const retriedFor = retried.length > 0 ? await services.integrations.get(id) : undefined;
      if (retriedFor) services.signals.recordsChanged(retriedFor.tableName);
      await sessions.flash(req, 'success', retried.length > 0
        ? `Integration ${id}: ${retried.length} failed record${retried.length === 1 ? ' is' : 's are'} pending again; the next run (or Run now) tries ${retried.length === 1 ? 'it' : 'them'} with the current settings.`
        : `Integration ${id} has no failed records to retry.`);
    } catch (error) {
      if (!(error instanceof UserFacingError)) throw error;
      await sessions.flash(req, 'error', `Integration ${id}: ${error.message}.`);
    }
    res.redirect(303, `/#integration-${id}`);
  });

  return router;
}
