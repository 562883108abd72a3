/**
 * The Prometheus endpoint, on a listener of its own (`--metrics-listen`): `GET /metrics` and
 * nothing else. It is unauthenticated, like any scrape target, so it must not share the API's
 * address: bind it to loopback or a monitoring network. Built, not started.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../core/ports.js';
import { resolveTimeouts, timeoutOptions, type HttpTimeouts } from './timeouts.js';

/** What the endpoint serves: one process's metrics, or the sum over cluster workers. */
export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface MetricsServerOptions {
  metrics: MetricsSource;
  logger: Logger;
  timeouts?: Partial<HttpTimeouts>;
}

export async function buildMetricsServer(options: MetricsServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    ...timeoutOptions(resolveTimeouts(options.timeouts)),
    bodyLimit: 1024,
    return503OnClosing: true,
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await options.metrics.render();
    return reply.code(200).header('content-type', options.metrics.contentType).send(text);
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ message: 'Only GET /metrics is served here.' }));
  app.setErrorHandler((error, request, reply) => {
    request.log.warn({ err: { type: (error as Error).name, message: (error as Error).message } }, 'metrics endpoint failed');
    return reply.code(500).send({ message: 'Could not collect the metrics.' });
  });
  return app;
}
