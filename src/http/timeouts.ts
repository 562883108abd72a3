/**
 * How long a connection may take over each part of its life. Without these a client that
 * sends one body byte every 15 s keeps its connection (and its request's memory) forever:
 * Node's request timeout is off under fastify, and headers alone were bounded.
 */
import type { Server } from 'node:http';
import type { FastifyServerOptions } from 'fastify';

export interface HttpTimeouts {
  /** The whole request, headers and body, must arrive within this many ms of its first byte. */
  requestMs: number;
  /** The headers must arrive within this many ms (at most `requestMs`). */
  headersMs: number;
  /** A connection with nothing sent or received for this many ms is closed: slow readers, stalled peers. */
  idleMs: number;
  /** An idle keep-alive connection between requests is closed after this many ms. */
  keepAliveMs: number;
}

/**
 * A KMS request is at most 1 MiB and sent at once by every SDK, so 30 s for the whole request
 * and 10 s for its headers leave slow networks ample room. Idle: long enough for the slowest
 * HSM call (RSA-4096 generation takes seconds) while the client waits. Keep-alive: longer than
 * the 60 s idle timeout of common load balancers, so that they, not we, close idle connections
 * (fastify's default, for that reason).
 */
export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = {
  requestMs: 30_000,
  headersMs: 10_000,
  idleMs: 60_000,
  keepAliveMs: 72_000,
};

/**
 * Fills in defaults (the headers default shrinks to a shorter request timeout) and checks the
 * combination Node accepts. Throws RangeError with a readable message.
 */
export function resolveTimeouts(given: Partial<HttpTimeouts> = {}): HttpTimeouts {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<HttpTimeouts>;
  const t = { ...DEFAULT_HTTP_TIMEOUTS, ...defined };
  if (defined.headersMs === undefined) t.headersMs = Math.min(t.headersMs, t.requestMs);
  for (const [name, value] of Object.entries(t))
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`HTTP timeout ${name} must be a positive whole number of ms, got ${value}`);
  if (t.headersMs > t.requestMs)
    throw new RangeError(`the headers timeout (${t.headersMs} ms) must not exceed the request timeout (${t.requestMs} ms)`);
  return t;
}

/**
 * The fastify options that apply `timeouts`. Node checks the request and headers deadlines
 * on a timer (every 30 s by default, which would let a 10 s deadline stretch to 40 s); here
 * the timer runs at a quarter of the shorter deadline, between 100 ms and 5 s.
 */
export function timeoutOptions(timeouts: HttpTimeouts): Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout'> & {
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  const checkEvery = Math.min(5000, Math.max(100, Math.floor(Math.min(timeouts.headersMs, timeouts.requestMs) / 4)));
  return {
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: checkEvery },
  };
}

/**
 * The same timeouts on a server fastify did not create (its `serverFactory`: HTTPS with the key
 * in the HSM), to which fastify applies none of its own: the Node options that only take effect
 * at creation go to the factory (`timeoutOptions(t).http`), the others are set here.
 */
export function applyTimeouts<S extends Server>(server: S, t: HttpTimeouts): S {
  server.requestTimeout = t.requestMs;
  server.headersTimeout = t.headersMs;
  server.keepAliveTimeout = t.keepAliveMs;
  server.setTimeout(t.idleMs);
  return server;
}
