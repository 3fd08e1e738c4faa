import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import { MayflyError, NotFoundError } from '../core/domain/errors.js';
import type { ApiDeps } from './deps.js';
import { bearerAuth } from './middleware/auth.js';
import { AuthFailures } from './middleware/auth-failures.js';
import { BODY_LIMITS, bodyLimit } from './middleware/body-limit.js';
import { errorHandler } from './middleware/errors.js';
import { environmentsRouter } from './routes/environments.js';
import { githubRouter } from './routes/github.js';
import { gitlabRouter } from './routes/gitlab.js';
import { slackRouter } from './routes/slack.js';
import { badgeRouter } from './routes/badge.js';
import { healthRouter, templatesRouter } from './routes/meta.js';
import { seedsRouter } from './routes/seeds.js';
import { auditRouter } from './routes/audit.js';
import { webErrorPage, webRouter } from './web/pages.js';
import { previewsRouter } from './web/previews.js';
import { WebMetrics } from './metrics.js';
import { requestLog } from './middleware/request-log.js';
import { openApiDocument } from './openapi.js';
import { QUEUE_DASHBOARD_PATH, queueDashboard } from './admin-queues.js';
import { rule, ruled } from './access.js';
import { capsulesRouter } from './routes/capsules.js';

/** Builds the web process's Express app from its dependencies; listens nowhere itself. */
export function createApp(given: ApiDeps): Express {
  const deps: ApiDeps = { ...given, authFailures: given.authFailures ?? new AuthFailures(given.config.web.authFailuresPerMinute) };
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const metrics = new WebMetrics(deps);
  app.use(metrics.middleware());
  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    req.requestId = given && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    next();
  });
  app.use(requestLog(deps.logger));
  if (deps.listCache) app.use(deps.listCache.writes());
  app.use(healthRouter(deps));
  app.get('/metrics', rule('metrics-token'), metrics.handler(deps.config.ops.metricsToken));
  // Doors that sign their requests: each parses its own raw body to check the signature.
  app.use('/slack', slackRouter(deps));
  app.use('/webhooks', gitlabRouter(deps));
  app.use('/webhooks', githubRouter(deps));
  // The live badge of an environment: its name and status only, to anyone (api/routes/badge.ts).
  app.use(badgeRouter(deps));
  const v1 = express.Router();
  const openapi = openApiDocument();
  v1.get('/openapi.json', rule('public'), (req, res) => {
    if (!req.accepts('json')) throw new MayflyError('NOT_ACCEPTABLE', 406, 'this document is application/json; the Accept header does not allow it');
    res.json(openapi);
  });
  v1.use(bodyLimit(BODY_LIMITS.rest), express.json({ limit: BODY_LIMITS.rest, strict: true }));
  v1.use(bearerAuth(deps.config, deps.authFailures));
  v1.use('/environments', environmentsRouter(deps));
  v1.use(capsulesRouter(deps));
  v1.use('/templates', templatesRouter(deps));
  v1.use('/seeds', seedsRouter(deps));
  v1.use('/audit', auditRouter(deps));
  v1.use(() => { throw new NotFoundError('ROUTE_NOT_FOUND', 'no such API route; see docs/api.md for the v1 API'); });
  app.use('/api/v1', v1);
  app.use(QUEUE_DASHBOARD_PATH, ruled('admin.queues', queueDashboard(deps)));
  // The QA web pages (api/web): sign-in, the environments table, the form, each environment's page.
  // Opening environments through the router: the sign-in handshake and the share-link button.
  app.use(previewsRouter(deps));
  app.use(webRouter(deps));
  app.use((req) => { throw new NotFoundError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.path}`); });
  app.use(webErrorPage(deps));
  app.use(errorHandler(deps.logger));
  return app;
}
