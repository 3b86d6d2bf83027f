import crypto from 'node:crypto';
import { Router } from 'express';
import type { Services } from '../../app';
import { errorMessage } from '../../lib/errors';

// Hashing both sides first gives equal lengths, so the comparison takes the same time whatever was sent.
const digest = (text: string) => crypto.createHash('sha256').update(text).digest();

function tokenMatches(given: string, expected: string): boolean {
  return crypto.timingSafeEqual(digest(given), digest(expected));
}

/**
 * GET /metrics in Prometheus's text format, for a scraper holding METRICS_TOKEN as its bearer
 * token (no session, no CSRF). Each process serves its own counters; the gauges read from the
 * database (queue depth, leases, latency) are the same from every process.
 */
export function metricsRoutes(services: Services): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const expected = services.config.metricsToken;
    if (!expected) {
      res.status(404).type('text/plain').send('/metrics is off: set METRICS_TOKEN in the configuration to turn it on, and give Prometheus the same value as its bearer token.\n');
      return;
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!match || !tokenMatches(match[1], expected)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain')
        .send(match ? 'The bearer token is not the METRICS_TOKEN of this server.\n' : 'Send the METRICS_TOKEN as "Authorization: Bearer <token>".\n');
      return;
    }
    try {
      const text = await services.metrics.text();
      res.type(services.metrics.contentType).send(text);
    } catch (error) {
      services.logger.error('metrics could not be read', { error: errorMessage(error) });
      res.status(503).type('text/plain').send('The metrics could not be read (the database did not answer); see the log.\n');
    }
  });
  return router;
}
