import express from 'express';
import type { Direction } from '../../store/communications';
import type { WebContext } from '../context';
import { pageNumber, queryText } from '../forms';

const PAGE_SIZE = 50;

/** The communications log, newest first, with filters. Everyone signed in may read it. */
export function communicationRoutes({ services }: WebContext): express.Router {
  const router = express.Router();

  router.get('/communications', async (req, res) => {
    const integrations = await services.integrations.list();
    const filters = {
      integration: queryText(req, 'integration'),
      direction: queryText(req, 'direction'),
      applied: queryText(req, 'applied'),
    };
    const integrationId = integrations.find((integration) => String(integration.id) === filters.integration)?.id;
    // Removed integrations keep their log; their id is still a valid filter.
    const filterId = integrationId ?? (/^\d+$/.test(filters.integration) ? Number(filters.integration) : undefined);
    const direction: Direction | undefined = filters.direction === 'in' || filters.direction === 'out' ? filters.direction : undefined;
    const applied = filters.applied === 'yes' ? true : filters.applied === 'no' ? false : undefined;
    const page = pageNumber(req);
    // One more than a page tells whether a next page exists without counting the whole log.
    const entries = await services.communications.list({ integrationId: filterId, direction, applied, limit: PAGE_SIZE + 1, offset: (page - 1) * PAGE_SIZE });
    const byId = new Map(integrations.map((integration) => [integration.id, integration]));
    res.render('communications', {
      title: 'Communications',
      filters,
      integrations,
      entries: entries.slice(0, PAGE_SIZE).map((entry) => ({ entry, integration: byId.get(entry.integrationId) })),
      page,
      hasNext: entries.length > PAGE_SIZE,
    });
  });

  return router;
}
