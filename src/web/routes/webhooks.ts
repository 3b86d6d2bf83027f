import express from 'express';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Services } from '../../app';
import { errorMessage } from '../../lib/errors';

const MAX_BODY = '1mb';
const ACCEPTED_BODY = JSON.stringify({ ok: true });
// Refused requests an address may make in a minute before all of its requests are refused: a
// signed delivery never counts, so X's own bursts (a replay sends as fast as we answer) pass.
const REFUSALS_PER_MINUTE = 120;

/**
 * X's side door: CRC challenges and signed Activity API deliveries for one account. Outside
 * sign-in and CSRF (X has neither), so an address whose requests keep being refused is shut out
 * for the minute, every body is read raw (at most 1 MB) and its signature checked before anything
 * is parsed. Every refusal is logged with its reason.
 */
export function webhookRoutes(services: Services, options: { refusalsPerMinute?: number } = {}): express.Router {
  const router = express.Router();
  const refusalsPerMinute = options.refusalsPerMinute ?? REFUSALS_PER_MINUTE;
  const refusals = new RateLimiterMemory({ points: refusalsPerMinute, duration: 60 });
  const log = services.logger.child({ area: 'webhooks' });

  const limited: express.RequestHandler = (req, res, next) => {
    const address = req.ip ?? 'unknown';
    refusals.get(address).then((spent) => {
      if (!spent || spent.consumedPoints < refusalsPerMinute) {
        // Counted once the answer is known: only refusals use up the address's allowance.
        res.once('finish', () => { if (res.statusCode >= 400) refusals.consume(address).catch(() => undefined); });
        next();
        return;
      }
      log.warn('webhook request refused', { reason: `rate limit: ${refusalsPerMinute} refused requests from this address within a minute`, ip: req.ip, path: req.path });
      res.status(429).json({ error: 'too many refused requests' });
    }, next);
  };

  const accountIdOf = (req: express.Request): number | null => {
    const id = Number(req.params.accountId);
    return Number.isSafeInteger(id) && id > 0 ? id : null;
  };

  router.get('/webhooks/x/:accountId', limited, async (req, res, next) => {
    try {
      const accountId = accountIdOf(req);
      const answer = accountId === null ? { refused: 'the account id is not a number' } : await services.webhooks.answerCrc(accountId, req.query.crc_token);
      if ('refused' in answer) {
        log.warn('CRC challenge refused', { accountId, reason: answer.refused });
        res.status(accountId === null || answer.refused.includes('no webhook') ? 404 : 400).json({ error: answer.refused });
        return;
      }
      log.info('CRC challenge answered', { accountId });
      res.json(answer);
    } catch (error) {
      next(error);
    }
  });

  router.post('/webhooks/x/:accountId', limited, express.raw({ type: () => true, limit: MAX_BODY }), async (req, res, next) => {
    try {
      const accountId = accountIdOf(req);
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const outcome = accountId === null
        ? { status: 404 as const, reason: 'the account id is not a number', accepted: false }
        : await services.webhooks.receive(accountId, raw, req.get('x-twitter-webhooks-signature'));
      // Accepted ones at debug: X may send hundreds a second, and each batch written is logged at info.
      if (outcome.accepted) log.debug('webhook event accepted', { accountId, reason: outcome.reason });
      else log.warn('webhook event refused', { accountId, status: outcome.status, reason: outcome.reason });
      // The accepted answer is always the same: written as it is (no serializing, no ETag), as X may send hundreds a second.
      if (outcome.status === 200) res.status(200).type('application/json').end(ACCEPTED_BODY);
      else res.status(outcome.status).json({ error: outcome.reason });
    } catch (error) {
      next(error);
    }
  });

  // The body parser's refusals (too large, unreadable) answer here, in this route's own terms.
  router.use('/webhooks/x', (error: unknown, req: express.Request, res: express.Response, next: express.NextFunction) => {
    const status = (error as { status?: number }).status;
    if (status === 413) {
      log.warn('webhook event refused', { path: req.path, status, reason: `the body is over ${MAX_BODY}` });
      res.status(413).json({ error: `the body is over ${MAX_BODY}` });
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      log.warn('webhook event refused', { path: req.path, status, reason: errorMessage(error) });
      res.status(status).json({ error: 'the request could not be read' });
      return;
    }
    next(error);
  });
  return router;
}
