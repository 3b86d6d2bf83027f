import crypto from 'node:crypto';
import express from 'express';
import { hmacSha1Signature, parseAuthorizationHeader, signatureBaseString, type OAuthParam } from './oauth1';
import { EmulatorInputError, type EmulatorState } from './state';

/** X lets a request token wait about this long for the user; afterwards it is refused. */
export const REQUEST_TOKEN_TTL_MS = 15 * 60 * 1000;

interface PendingRequest {
  consumerKey: string;
  secret: string;
  callback: string;
  issuedAtMs: number;
  /** Set once the user approved on the authorize page. */
  approval?: { userId: string; verifier: string; issued?: { token: string; secret: string } };
}

// One table of request tokens per emulator; kept beside its state, not in it (they are short-lived and never kept).
const pendingByState = new WeakMap<EmulatorState, Map<string, PendingRequest>>();

function pendingOf(state: EmulatorState): Map<string, PendingRequest> {
  let pending = pendingByState.get(state);
  if (!pending) {
    pending = new Map();
    pendingByState.set(state, pending);
  }
  return pending;
}

function randomToken(bytes: number): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

function liveRequest(state: EmulatorState, token: string | undefined): PendingRequest | undefined {
  if (!token) return undefined;
  const pending = pendingOf(state);
  const request = pending.get(token);
  if (!request) return undefined;
  if (state.now() - request.issuedAtMs > REQUEST_TOKEN_TTL_MS) {
    pending.delete(token);
    return undefined;
  }
  return request;
}

/**
 * Checks the HMAC-SHA1 signature of an /oauth/* call. Unlike the API's user-context check, the
 * token is optional (request_token has none) and its secret comes from the pending request.
 */
function verifySigned(state: EmulatorState, req: express.Request, tokenSecret: (token: string) => string | undefined): { consumerKey: string; header: Map<string, string> } | string {
  const header = parseAuthorizationHeader(req.get('authorization'));
  if (!header) return 'missing or malformed OAuth Authorization header';
  const consumerKey = header.get('oauth_consumer_key');
  const signature = header.get('oauth_signature');
  if (!consumerKey || !signature) return 'oauth_consumer_key or oauth_signature missing';
  if (header.get('oauth_signature_method') !== 'HMAC-SHA1') return 'unsupported signature method';
  if (!header.get('oauth_timestamp') || !header.get('oauth_nonce')) return 'oauth_timestamp or oauth_nonce missing';
  const consumerSecret = state.consumerSecret(consumerKey);
  if (consumerSecret === undefined) return 'unknown consumer key';
  const token = header.get('oauth_token');
  let secret = '';
  if (token) {
    const found = tokenSecret(token);
    if (found === undefined) return 'Invalid request token.';
    secret = found;
  }
  const url = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
  const params: OAuthParam[] = [];
  for (const [key, value] of header) if (key !== 'oauth_signature' && key !== 'realm') params.push([key, value]);
  for (const [key, value] of new URL(url).searchParams) params.push([key, value]);
  if (/^application\/x-www-form-urlencoded\b/i.test(req.get('content-type') ?? '')) {
    for (const [key, value] of Object.entries((req.body ?? {}) as Record<string, unknown>)) {
      // twitter-api-v2 (as X accepts) signs an oauth_* parameter sent in both places once.
      if (typeof value === 'string' && header.get(key) !== value) params.push([key, value]);
    }
  }
  const expected = hmacSha1Signature(signatureBaseString(req.method, url, params), consumerSecret, secret);
  if (!safeEqual(signature, expected)) return 'Could not authenticate you.';
  return { consumerKey, header };
}

/** X answers the /oauth/* endpoints in text; a failure is a 401 with the reason. */
function refuse(res: express.Response, status: number, reason: string): void {
  res.status(status).type('text/plain').send(reason);
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><main>${body}</main></body></html>`;
}

function authorizePage(state: EmulatorState, token: string, request: PendingRequest, error?: string): string {
  const users = state.listUsers().filter((user) => !user.revoked);
  const options = users.map((user) => `<option value="${escapeHtml(user.id)}">@${escapeHtml(user.username)}</option>`).join('');
  return page('Authorize an app to use your account', `
<h1>Authorize this app to use your account?</h1>
<p>The app with consumer key ending <code>${escapeHtml(request.consumerKey.slice(-4))}</code> asks to read and post for one of this emulator's users.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="authorize">
  <input type="hidden" name="oauth_token" value="${escapeHtml(token)}">
  <p><label for="user_id">Sign in as</label>
  <select id="user_id" name="user_id">${options}<option value="">A new user…</option></select></p>
  <p><label for="new_username">New user's screen name (when "A new user…" is chosen)</label>
  <input id="new_username" name="new_username" maxlength="15" pattern="[A-Za-z0-9_]{1,15}"></p>
  <p><button type="submit" name="decision" value="approve" id="allow">Authorize app</button>
  <button type="submit" name="decision" value="deny" id="cancel">Cancel</button></p>
</form>`);
}

function redirectTo(callback: string, params: Record<string, string>): string {
  const target = new URL(callback);
  for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
  return target.toString();
}

/**
 * X's three-legged OAuth 1.0a flow: POST /oauth/request_token (app-signed), GET /oauth/authorize
 * (the page where a user approves or denies), POST /oauth/access_token (signed with the request
 * token, with the verifier). Request tokens are single-use and expire after REQUEST_TOKEN_TTL_MS.
 */
export function createOAuthFlowRouter(state: EmulatorState): express.Router {
  const router = express.Router();
  router.use('/oauth', express.urlencoded({ extended: false, limit: '64kb' }));

  router.post('/oauth/request_token', (req, res) => {
    const verdict = verifySigned(state, req, () => undefined);
    if (typeof verdict === 'string') return refuse(res, 401, verdict);
    const callback = (req.body?.oauth_callback as string | undefined) ?? verdict.header.get('oauth_callback');
    if (!callback) return refuse(res, 400, 'oauth_callback is required (a URL, or "oob")');
    if (callback !== 'oob') {
      let parsed: URL;
      try {
        parsed = new URL(callback);
      } catch {
        return refuse(res, 400, `oauth_callback '${callback}' is not a URL`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return refuse(res, 400, 'oauth_callback must be an http(s) URL or "oob"');
    }
    const token = randomToken(24);
    const secret = randomToken(30);
    pendingOf(state).set(token, { consumerKey: verdict.consumerKey, secret, callback, issuedAtMs: state.now() });
    res.type('text/html').send(new URLSearchParams({ oauth_token: token, oauth_token_secret: secret, oauth_callback_confirmed: 'true' }).toString());
  });

  // X serves the same page at /oauth/authenticate (Sign in with X).
  router.get(['/oauth/authorize', '/oauth/authenticate'], (req, res) => {
    const token = typeof req.query.oauth_token === 'string' ? req.query.oauth_token : undefined;
    const request = liveRequest(state, token);
    if (!request || request.approval) {
      return res.status(400).type('html').send(page('Request token refused', '<h1>This request token is unknown, used or expired</h1><p>Go back to the app and start again.</p>'));
    }
    res.type('html').send(authorizePage(state, token as string, request));
  });

  router.post(['/oauth/authorize', '/oauth/authenticate'], async (req, res) => {
    const token = typeof req.body?.oauth_token === 'string' ? req.body.oauth_token : undefined;
    const request = liveRequest(state, token);
    if (!request || request.approval) {
      return res.status(400).type('html').send(page('Request token refused', '<h1>This request token is unknown, used or expired</h1><p>Go back to the app and start again.</p>'));
    }
    if (req.body.decision !== 'approve') {
      pendingOf(state).delete(token as string);
      if (request.callback === 'oob') return res.type('html').send(page('Not authorized', '<h1>You did not authorize the app</h1>'));
      return res.redirect(303, redirectTo(request.callback, { denied: token as string }));
    }
    let userId = typeof req.body.user_id === 'string' ? req.body.user_id : '';
    let issued: { token: string; secret: string } | undefined;
    try {
      if (!userId) {
        const created = state.createUser({
          username: String(req.body.new_username ?? '').trim(),
          consumer_key: request.consumerKey,
          consumer_secret: state.consumerSecret(request.consumerKey),
        });
        userId = created.id;
        issued = { token: created.credentials.access_token, secret: created.credentials.access_token_secret };
        await state.changesStored();
      } else if (!state.getUser(userId)) {
        throw new EmulatorInputError(400, 'choose one of the listed users');
      }
    } catch (error) {
      if (!(error instanceof EmulatorInputError)) throw error;
      return res.status(400).type('html').send(authorizePage(state, token as string, request, error.message));
    }
    request.approval = { userId, verifier: randomToken(16), issued };
    if (request.callback === 'oob') {
      return res.type('html').send(page('PIN', `<h1>Enter this PIN in the app</h1><p><code id="pin">${escapeHtml(request.approval.verifier)}</code></p>`));
    }
    res.redirect(303, redirectTo(request.callback, { oauth_token: token as string, oauth_verifier: request.approval.verifier }));
  });

  router.post('/oauth/access_token', (req, res) => {
    let used: string | undefined;
    const verdict = verifySigned(state, req, (token) => {
      const request = liveRequest(state, token);
      if (!request) return undefined;
      used = token;
      return request.secret;
    });
    if (typeof verdict === 'string') return refuse(res, 401, verdict);
    if (!used) return refuse(res, 401, 'Invalid request token.');
    const request = pendingOf(state).get(used) as PendingRequest;
    if (request.consumerKey !== verdict.consumerKey) return refuse(res, 401, 'Invalid request token.');
    // Single use: whatever the outcome, a signed exchange attempt uses the request token up.
    pendingOf(state).delete(used);
    const verifier = (req.body?.oauth_verifier as string | undefined) ?? verdict.header.get('oauth_verifier') ?? '';
    if (!request.approval || !safeEqual(verifier, request.approval.verifier)) return refuse(res, 401, 'Error processing your OAuth request: Invalid oauth_verifier parameter');
    const user = state.getUser(request.approval.userId);
    if (!user) return refuse(res, 401, 'Invalid request token.');
    const access = request.approval.issued ?? state.issueAccessToken(user.id, request.consumerKey);
    res.type('text/html').send(new URLSearchParams({
      oauth_token: access.token,
      oauth_token_secret: access.secret,
      user_id: user.id,
      screen_name: user.username,
    }).toString());
  });

  return router;
}

/** `POST /_emulator/apps` {consumer_key?, consumer_secret?}: registers an X app for the three-legged flow (made up when not given). */
export function createAppControlRouter(state: EmulatorState): express.Router {
  const router = express.Router();
  router.post('/apps', express.json(), (req, res) => {
    const body = (req.body ?? {}) as { consumer_key?: unknown; consumer_secret?: unknown };
    const consumerKey = body.consumer_key === undefined ? randomToken(18) : body.consumer_key;
    const consumerSecret = body.consumer_secret === undefined ? randomToken(36) : body.consumer_secret;
    try {
      state.registerApp(consumerKey as string, consumerSecret as string);
    } catch (error) {
      if (!(error instanceof EmulatorInputError)) throw error;
      return res.status(error.status).json({ error: error.message });
    }
    res.status(201).json({ consumer_key: consumerKey, consumer_secret: consumerSecret });
  });
  return router;
}
