import express from 'express';
import { addMediaControls } from './media-controls';
import { EmulatorInputError, type AccessLevel, type EmulatorState } from './state';

type Handler = (req: express.Request, res: express.Response) => void;

/** Runs a state call and turns bad input into `{error}` with the status the state chose. */
function guarded(handler: Handler): Handler {
  return (req, res) => {
    try {
      handler(req, res);
    } catch (error) {
      if (error instanceof EmulatorInputError) {
        res.status(error.status).json({ error: error.message });
        return;
      }
      throw error;
    }
  };
}

function body(req: express.Request): Record<string, unknown> {
  const value: unknown = req.body;
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EmulatorInputError(400, 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

function param(req: express.Request, name: string): string {
  return String(req.params[name]);
}

/**
 * The /_emulator paths: test and sandbox controls, no OAuth. Whoever mounts the emulator inside a
 * bigger server must put its own access control in front of these.
 */
export function createControlRouter(state: EmulatorState): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '1mb' }));

  router.post('/users', guarded((req, res) => {
    res.status(201).json(state.createUser(body(req) as never));
  }));
  router.get('/users', guarded((_req, res) => {
    res.json({ users: state.listUsers() });
  }));
  router.post('/users/:username/revoke', guarded((req, res) => {
    state.revokeUser(param(req, 'username'));
    res.json({ ok: true });
  }));
  router.post('/users/:username/restore', guarded((req, res) => {
    state.restoreUser(param(req, 'username'));
    res.json({ ok: true });
  }));
  router.post('/users/:username/long-posts', guarded((req, res) => {
    state.setLongPosts(param(req, 'username'), body(req).allowed);
    res.json({ ok: true });
  }));
  router.post('/users/:username/credits', guarded((req, res) => {
    state.setCreditsDepleted(param(req, 'username'), body(req).depleted);
    res.json({ ok: true });
  }));
  router.post('/users/:username/access', guarded((req, res) => {
    state.setAccessLevel(param(req, 'username'), body(req).level as AccessLevel);
    res.json({ ok: true });
  }));

  router.post('/tweets', guarded((req, res) => {
    res.status(201).json(state.postAs(body(req) as never));
  }));
  router.get('/tweets', guarded((req, res) => {
    const author = typeof req.query.author === 'string' ? req.query.author : undefined;
    res.json({ tweets: state.listTweets({ author }) });
  }));
  router.get('/tweets/:id', guarded((req, res) => {
    const tweet = state.getTweet(param(req, 'id'));
    if (!tweet) throw new EmulatorInputError(404, `no tweet ${param(req, 'id')}`);
    res.json(tweet);
  }));
  // A user deleting their own tweet on X.
  router.delete('/tweets/:id', guarded((req, res) => {
    if (!state.deleteTweet(param(req, 'id'))) throw new EmulatorInputError(404, `no tweet ${param(req, 'id')}`);
    res.json({ ok: true });
  }));
  router.post('/tweets/:id/reveal', guarded((req, res) => {
    if (!state.revealTweet(param(req, 'id'))) throw new EmulatorInputError(404, `no tweet ${param(req, 'id')}`);
    res.json({ ok: true });
  }));
  router.get('/timeline/:username', guarded((req, res) => {
    res.json(state.timeline(param(req, 'username')));
  }));

  // Direct messages and mentions from invented users, and the apps' DM permission.
  router.post('/dms', guarded((req, res) => {
    res.status(201).json(state.dms.sendAs(body(req)));
  }));
  router.get('/dms', guarded((req, res) => {
    res.json({ dms: state.dms.list(typeof req.query.user === 'string' ? req.query.user : undefined) });
  }));
  router.post('/mentions', guarded((req, res) => {
    const input = body(req);
    if (typeof input.of !== 'string' || typeof input.text !== 'string') throw new EmulatorInputError(400, 'of (the mentioned username) and text must be strings');
    res.status(201).json(state.postAs({ ...(input as Record<string, unknown>), as: input.as as string, text: `@${input.of.replace(/^@/, '')} ${input.text}` }));
  }));
  router.post('/users/:username/direct-messages', guarded((req, res) => {
    state.dms.setPermission(param(req, 'username'), body(req).allowed);
    res.json({ ok: true });
  }));

  router.post('/faults', guarded((req, res) => {
    state.addFaults(body(req).rules as never);
    res.status(201).json({ faults: state.listFaults() });
  }));
  router.get('/faults', guarded((_req, res) => {
    res.json({ faults: state.listFaults() });
  }));
  router.delete('/faults', guarded((_req, res) => {
    state.clearFaults();
    res.json({ faults: [] });
  }));

  // X's soft guarantees, acted out: late timelines, no duplicate refusal.
  router.get('/behaviour', guarded((_req, res) => {
    res.json(state.behaviour());
  }));
  router.post('/behaviour', guarded((req, res) => {
    res.json(state.setBehaviour(body(req)));
  }));

  router.post('/rate-limits', guarded((req, res) => {
    state.setRateLimit(body(req) as never);
    res.json({ ok: true });
  }));

  router.get('/calls', guarded((_req, res) => {
    res.json(state.getCalls());
  }));
  router.delete('/calls', guarded((_req, res) => {
    state.resetCalls();
    res.json(state.getCalls());
  }));

  router.get('/clock', guarded((_req, res) => {
    res.json(state.clockView());
  }));
  router.post('/clock', guarded((req, res) => {
    res.json(state.changeClock(body(req)));
  }));

  // Webhook delivery: its faults, what was delivered, and X's periodic CRC re-check on demand.
  router.post('/webhooks/faults', guarded((req, res) => {
    state.webhooks.addFaults(body(req).rules);
    res.status(201).json({ faults: state.webhooks.listFaults() });
  }));
  router.get('/webhooks/faults', guarded((_req, res) => {
    res.json({ faults: state.webhooks.listFaults() });
  }));
  router.delete('/webhooks/faults', guarded((_req, res) => {
    state.webhooks.clearFaults();
    res.json({ faults: [] });
  }));
  router.get('/webhooks', guarded((_req, res) => {
    res.json({ webhooks: state.webhooks.allWebhooks().map(({ consumerKey: _app, ...webhook }) => webhook) });
  }));
  router.get('/webhooks/deliveries', guarded((_req, res) => {
    res.json({ deliveries: state.webhooks.listDeliveries() });
  }));
  router.post('/webhooks/:id/crc', (req, res, next) => {
    const webhook = state.webhooks.findWebhook(param(req, 'id'));
    if (!webhook) {
      res.status(404).json({ error: `no webhook ${param(req, 'id')}` });
      return;
    }
    state.webhooks.validateWebhook(webhook).then((valid) => res.json({ valid, error: webhook.lastCrcError }), next);
  });

  addMediaControls(router, state);

  router.post('/reset', guarded((_req, res) => {
    state.reset();
    res.json({ ok: true });
  }));

  router.use((_req: express.Request, res: express.Response) => {
    res.status(404).json({ error: 'no such emulator control path' });
  });
  // Malformed JSON from express.json() lands here; answer in the control API's own shape.
  router.use((error: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    const status = (error as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: (error as Error).message });
      return;
    }
    next(error);
  });
  return router;
}
