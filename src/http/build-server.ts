/**
 * The HTTP adapter: a fastify server speaking the AWS KMS wire protocol. Built, not started —
 * the caller listens (or uses `inject()` in tests).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';
import type { CredentialResolver } from '../auth/credentials.js';
import type { CaDeps } from '../ca/index.js';
import type { Dispatcher } from '../core/dispatch.js';
import type { KmsSettings } from '../core/operation.js';
import type { Logger } from '../core/ports.js';
import type { Metrics } from '../observability/metrics.js';
import { loggerOptions } from '../observability/logger.js';
import { RepeatedLines } from '../observability/repeated-lines.js';
import { createAuthenticator } from './authenticate.js';
import { registerCaRoutes } from './ca-routes.js';
import { CONSOLE_PATH, registerConsoleRoute } from './console-route.js';
import { handleServerError, sendError } from './errors.js';
import { registerKmsRoute } from './kms-route.js';
import { registerXksRoutes, type XksRouteOptions } from './xks-route.js';
import { lazyChildLoggerFactory } from './lazy-child-logger.js';
import { applyTimeouts, resolveTimeouts, timeoutOptions, type HttpTimeouts } from './timeouts.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operation name once the target is known (a bounded label for metrics). */
    kmsOperation?: string;
    /** `ok` or the AWS exception name sent. */
    kmsOutcome?: string;
    /** The authenticated principal's ARN. */
    kmsPrincipal?: string;
  }
}

/** KMS payloads are at most 6 KiB before base64 and JSON; 1 MiB leaves room and stops abuse. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface ServerOptions {
  dispatcher: Dispatcher;
  credentials: CredentialResolver;
  /** The region in the SigV4 credential scope; the account id. */
  settings: KmsSettings;
  /** A cheap HSM call; `GET /health` answers 503 when it fails. */
  health: () => Promise<{ ok: boolean; detail?: string }>;
  /** Counts each API call; served by {@link buildMetricsServer} on a listener of its own. */
  metrics: Metrics;
  /** A pino logger to use (preferably from createLogger), or options to build one with redaction. */
  logger: Logger | LoggerOptions;
  /** The server's clock, for SigV4 skew checks. */
  clock?: () => Date;
  /** Largest request body accepted, in bytes. */
  bodyLimit?: number;
  /** How long `GET /health` waits for the HSM before answering 503. */
  healthTimeoutMs?: number;
  /** Request, headers, idle and keep-alive timeouts; defaults in {@link DEFAULT_HTTP_TIMEOUTS}. */
  timeouts?: Partial<HttpTimeouts>;
  /**
   * Trust X-Forwarded-For from these proxies (fastify's `trustProxy`: true, addresses or CIDRs)
   * so audit events carry the client's address. Default: trust nobody.
   */
  trustProxy?: boolean | string | string[];
  /** The private CA whose certificates, CRLs and OCSP responder to serve under `/ca/`. */
  ca?: CaDeps;
  /**
   * Creates the node server fastify serves on (HTTPS with the key in the HSM); default: plain
   * HTTP. It gets the Node server options that carry {@link timeouts}; the rest are applied to
   * what it returns.
   */
  serverFactory?: ((handler: (request: IncomingMessage, response: ServerResponse) => void, serverOptions: ServerTimeoutOptions) => HttpServer) | undefined;
  /** Serve the XKS proxy API too (hsmkms as an external key store proxy for AWS KMS). */
  xks?: Omit<XksRouteOptions, 'metrics' | 'clock'> | undefined;
  /**
   * Serve the web console from this directory (the Vite build, `dist/console`) at `/console`.
   * Absent: no console routes.
   */
  consoleDir?: string | undefined;
}

/** The Node server options the request and headers timeouts need at creation. */
export type ServerTimeoutOptions = ReturnType<typeof timeoutOptions>['http'];

function isLogger(value: Logger | LoggerOptions): value is Logger {
  return typeof (value as Logger).child === 'function' && typeof (value as Logger).info === 'function';
}

async function checkHealth(health: ServerOptions['health'], timeoutMs: number): Promise<{ ok: boolean; detail?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer from the HSM within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([health().catch((error: unknown) => ({ ok: false, detail: String(error) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const healthTimeoutMs = options.healthTimeoutMs ?? 5000;
  const logging = isLogger(options.logger)
    ? { loggerInstance: options.logger as unknown as FastifyBaseLogger }
    : { logger: loggerOptions(options.logger) };
  const timeouts = resolveTimeouts(options.timeouts);
  const fastifyTimeouts = timeoutOptions(timeouts);
  const { serverFactory } = options;
  const app = Fastify({
    ...logging,
    ...fastifyTimeouts,
    bodyLimit,
    genReqId: () => randomUUID(),
    // The request id is ours to choose: a client-supplied one would make logs forgeable.
    requestIdHeader: false,
    // One line per call is written in onResponse below, without URL noise or headers.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLoggerFactory,
    // A request that arrives on an open connection while the server closes (SIGTERM, or a worker
    // replaced by `serve --recycle-worker-after`) is answered, with `Connection: close`, rather
    // than refused with fastify's own 503: the backend stays open until the server has closed.
    return503OnClosing: false,
    // A path that is not a valid URL (bad percent-encoding) or too long a route parameter: the
    // same {"__type","message"} shape as every other error, not fastify's own.
    frameworkErrors: (error, request, reply) => {
      request.log.info({ code: error.code }, 'malformed request path');
      if (error.code === 'FST_ERR_BAD_URL')
        return sendError(reply, 'ValidationException', 'The request path is not a valid URL: check its percent-encoding.', 400);
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendError(reply, 'ValidationException', 'A segment of the request path is too long.', 414);
      return sendError(reply, 'KMSInternalException', 'An internal error occurred. Try again later.', 500);
    },
    trustProxy: options.trustProxy ?? false,
    ...(serverFactory
      ? { serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) => applyTimeouts(serverFactory(handler, fastifyTimeouts.http), timeouts) }
      : {}),
  });

  // Keep the exact bytes for every media type: SigV4 hashes the body as sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  // Hooks in callback style: an async hook costs a promise (and its async_hooks bookkeeping)
  // per request for work that never waits.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-amzn-RequestId', String(request.id));
    done();
  });

  const { metrics, dispatcher } = options;
  // The request line holds only fields of ours (the registry's operation name, our exception
  // name, the status, the time, the authenticated principal's ARN, our request id), never caller
  // input, so it skips pino's redaction, which costs ~7 µs a line against ~1 µs for the rest.
  const requestLines = app.log.child({}, { redact: { paths: [] } });
  app.addHook('onResponse', (request, reply, done) => {
    try {
      logResponse(request, reply);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    done();
  });
  function logResponse(request: FastifyRequest, reply: FastifyReply): void {
    if (request.routeOptions.url !== '/' || request.method !== 'POST') return;
    const operation = request.kmsOperation ?? 'unknown';
    const outcome = request.kmsOutcome ?? (reply.statusCode < 400 ? 'ok' : 'error');
    metrics.observeRequest(operation, outcome, reply.elapsedTime / 1000);
    const line = {
      operation,
      outcome,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      principal: request.kmsPrincipal,
    };
    if (reply.statusCode >= 500) request.log.warn(line, 'request failed');
    else requestLines.info({ reqId: request.id, ...line }, 'request');
  }

  app.setErrorHandler((error, request, reply) =>
    handleServerError(error instanceof Error ? error : new Error(String(error)), request, reply, bodyLimit),
  );
  app.setNotFoundHandler((request, reply) => {
    sendError(reply, 'UnknownOperationException', `No route for ${request.method} ${request.url.split('?', 1)[0]!.slice(0, 100)}`, 404);
  });

  registerKmsRoute(app, {
    dispatcher,
    authenticate: createAuthenticator({
      credentials: options.credentials,
      region: options.settings.region,
      clock: options.clock ?? (() => new Date()),
    }),
  });

  if (options.ca) registerCaRoutes(app, options.ca);
  if (options.xks) registerXksRoutes(app, { ...options.xks, metrics, clock: options.clock ?? (() => new Date()) });
  if (options.consoleDir !== undefined) {
    registerConsoleRoute(app, { dir: options.consoleDir, region: options.settings.region });
    // A person who opens the endpoint in a browser finds the console; API clients only POST.
    app.get('/', (request, reply) => {
      if (!String(request.headers.accept ?? '').includes('text/html'))
        return sendError(reply, 'UnknownOperationException', 'No route for GET /', 404);
      return reply.redirect(`${CONSOLE_PATH}/`, 302);
    });
  }

  // Anyone may ask (load balancers ask without credentials), and a check reaches the HSM and the
  // store: requests that arrive while a check runs share its answer, so a flood of them costs
  // one check at a time, never one HSM call per request.
  let running: Promise<{ ok: boolean; detail?: string }> | undefined;
  // A load balancer polls while the HSM stays unavailable (a refused PIN): each failure is logged
  // at first, then once a minute with the count held back, and the recovery at once.
  const failures = new RepeatedLines();
  app.get('/health', async (request, reply) => {
    running ??= checkHealth(options.health, healthTimeoutMs).finally(() => {
      running = undefined;
    });
    const result = await running;
    if (result.ok) {
      if (failures.active) request.log.info({ suppressed: failures.reset() }, 'health check passed again');
      return reply.code(200).send({ status: 'ok' });
    }
    // The detail may name CKR codes: logs only, never the client.
    const admitted = failures.admit(result.detail ?? '');
    if (admitted) request.log.warn({ detail: result.detail, ...admitted }, 'health check failed');
    return reply.code(503).send({ status: 'unavailable' });
  });

  // /metrics is not served here: it reveals versions and per-operation counts to anyone who
  // can reach the API. It has a listener of its own (buildMetricsServer, --metrics-listen).

  return app;
}

/**
 * Listens on every address `host` stands for (`localhost`: 127.0.0.1 and ::1 where both resolve;
 * `0.0.0.0`: every interface) and returns their URLs, logged in one line. fastify's `listen` logs
 * a line per address itself, which reads as the server starting more than once: the instance's
 * logger is a quieter child for that call (no request is served before it returns).
 */
export async function listenOnAll(server: FastifyInstance, host: string, port: number, tls: boolean): Promise<string[]> {
  const log = server.log;
  server.log = log.child({}, { level: ['fatal', 'error', 'silent'].includes(log.level) ? log.level : 'warn' });
  try {
    await server.listen({ host, port });
  } finally {
    server.log = log;
  }
  // fastify names the scheme from its own https option; the HSM-keyed server is built outside it.
  const urls = server.addresses().map((address) => {
    if (typeof address === 'string') return address;
    const name = address.address.includes(':') ? `[${address.address}]` : address.address;
    return `${tls ? 'https' : 'http'}://${name}:${address.port}`;
  });
  log.info({ addresses: urls }, `Server listening at ${urls.join(', ')}`);
  return urls;
}
