import path from 'node:path';
import express from 'express';
import helmet from 'helmet';
import type { Services } from '../app';
import type { EmulatorState } from '../emulator/emulator';
import { createXApiRouter } from '../emulator/x-api-routes';
import { createOAuthFlowRouter } from '../emulator/oauth-flow';
import { runPollCycle } from '../sync/poll-cycle';
import type { SchedulerControl, WebContext } from './context';
import { formOnce } from './middleware/form-once';
import { FormTokenStore } from '../store/form-tokens';
import { firstRunGate, requireSignedIn } from './middleware/auth';
import { createLivePages, type LivePagesOptions } from './live/live-pages';
import { csrfProtection } from './middleware/csrf';
import { errorHandler, notFound, setPageLocals } from './middleware/errors';
import { verifyPassword } from '../lib/password';
import { LoginLimiter } from '../store/login-limits';
import { Sessions } from './middleware/session';
import { accountConnectRoutes } from './routes/account-connect';
import { accountRoutes } from './routes/accounts';
import { accountWebhookRoutes } from './routes/account-webhooks';
import { apiRoutes } from './routes/api';
import { authRoutes } from './routes/auth';
import { communicationRoutes } from './routes/communications';
import { dashboardRoutes } from './routes/dashboard';
import { healthRoutes } from './routes/health';
import { noRepliesAlertRoutes } from './routes/no-replies-alerts';
import { xCostRoutes } from './routes/x-costs';
import { metricsRoutes } from './routes/metrics';
import { integrationRoutes } from './routes/integrations';
import { liveRoutes } from './routes/live';
import { agentReplyRoutes } from './routes/agent-replies';
import { retryRoutes } from './routes/retry';
import { recordRoutes } from './routes/records';
import { sandboxRoutes } from './routes/sandbox';
import { sandboxChannelRoutes } from './routes/sandbox-channels';
import { channelRoutes } from './routes/channels';
import { channelReplyRoutes } from './routes/channel-replies';
import { unreadableWindowRoutes } from './routes/unreadable-windows';
import { userRoutes } from './routes/users';
import { webhookRoutes } from './routes/webhooks';
import './types';
import { viewHelpers } from './view-helpers';
import { mediaRoutes } from './routes/media';
import { MEDIA_FIELD_RULES } from '../media/media-kinds';
import { projectRoot } from '../lib/project-root';

// views/ and public/ sit at the top of the project, from src/ and from dist/src/ alike.
const PROJECT_ROOT = projectRoot(__dirname);

export interface WebAppOptions {
  /** The running scheduler, for "Run now", next runs and picking up changes at once. */
  scheduler?: SchedulerControl;
  /** The sandbox emulator's state: its X API is served at /sandbox/x, its timeline on the sandbox pages. */
  sandbox?: EmulatorState | null;
  loginLimiter?: LoginLimiter;
  /** The sign-in password check; tests pass one that counts its calls. */
  checkPassword?: (password: string, hash: string) => Promise<boolean>;
  /** The pages that update themselves: how often other processes' changes are looked for, and the stream caps. */
  live?: LivePagesOptions;
}

/** Without a scheduler (e.g. in tests), "Run now" runs one cycle directly. */
function directRunner(services: Services): SchedulerControl {
  return {
    runNow: (integrationId) => runPollCycle(services.sync, { integrationId }),
    nextRun: () => null,
    refresh: async () => undefined,
  };
}

/** The web app: pages, the JSON API and the sandbox's X API, with no port of its own (serve.ts listens). */
export function createWebApp(services: Services, options: WebAppOptions = {}): express.Express {
  const context: WebContext = {
    services,
    sessions: new Sessions(services),
    scheduler: options.scheduler ?? directRunner(services),
    sandbox: options.sandbox ?? null,
    loginLimiter: options.loginLimiter ?? new LoginLimiter(services.db),
    forms: formOnce(new FormTokenStore(services.db, services.clock)),
    checkPassword: options.checkPassword ?? verifyPassword,
  };
  // In-process writes poke the hub (no waiting for the next look); other processes' are found by the watcher's looks.
  // stopLivePages(services) ends them at shutdown.
  const live = createLivePages(services, options.live);
  const app = express();
  app.disable('x-powered-by');
  // Behind a proxy (TRUST_PROXY), the client's address and protocol come from its X-Forwarded-*
  // headers: the sign-in limit counts per real client, and the session cookie is Secure over HTTPS.
  app.set('trust proxy', services.config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  Object.assign(app.locals, viewHelpers);
  // The media field's rules, shown beside it in the wizard and on the record pages.
  app.locals.mediaFieldRules = MEDIA_FIELD_RULES;

  app.use(helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // X's media addresses, for the thumbnails of replies' photos and videos on the record page.
        imgSrc: ["'self'", 'data:', 'https://pbs.twimg.com'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    // Served over plain HTTP on a local address by default; HSTS would be a promise it cannot keep.
    strictTransportSecurity: false,
  }));
  app.use('/static', express.static(path.join(PROJECT_ROOT, 'public'), { maxAge: '1h' }));
  app.use(healthRoutes(services, options.scheduler));
  app.use(metricsRoutes(services));
  // X's webhook deliveries and CRC checks: signed by X, so outside sign-in and CSRF.
  app.use(webhookRoutes(services));

  // The sandbox's X API only (OAuth-protected); its control paths are reached through the sandbox pages.
  if (context.sandbox) app.use('/sandbox/x', createOAuthFlowRouter(context.sandbox), createXApiRouter(context.sandbox));
  app.use('/sandbox/x', (_req, res) => { res.status(404).json({ title: 'Not Found', detail: 'no such X API path in the sandbox', status: 404 }); });

  app.use('/api/v1', apiRoutes(services));

  app.use(express.urlencoded({ extended: false, limit: '1mb' }));
  app.use(context.sessions.middleware());
  app.use((req, res, next) => {
    setPageLocals(req, res);
    next();
  });
  app.use(csrfProtection(services.config.secretKey));
  app.use(firstRunGate(services));
  app.use(authRoutes(context));
  app.use(liveRoutes(context, live.watcher, live.streams));
  app.use(requireSignedIn());
  for (const routes of [unreadableWindowRoutes, noRepliesAlertRoutes, xCostRoutes, dashboardRoutes, retryRoutes, agentReplyRoutes, accountWebhookRoutes, accountConnectRoutes, accountRoutes, integrationRoutes, mediaRoutes, recordRoutes, communicationRoutes, sandboxRoutes, sandboxChannelRoutes, channelRoutes, channelReplyRoutes, userRoutes]) {
    app.use(routes(context));
  }
  app.use(notFound());
  app.use(errorHandler(services.logger));
  return app;
}
