/**
 * Prometheus metrics with prom-client. Each service instance owns its Registry (no global
 * default registry), so several servers — or tests — in one process never share counters.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** The Content-Type of {@link Metrics.render}'s output. */
  readonly contentType: string;
  /**
   * Counts one API call. `operation` must come from a bounded set (known operation names, or
   * `unknown`): label values are never taken from raw client input.
   */
  observeRequest(operation: string, outcome: string, seconds: number): void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
}

export interface MetricsOptions {
  /** Backend pool statistics (e.g. `{ sessionsInUse: 2, sessionsIdle: 6 }`), read at scrape time. */
  stats?: () => Record<string, number>;
  /** Process metrics (CPU, memory, event-loop lag); default true. */
  processMetrics?: boolean;
}

/** Latency buckets in seconds: HSM calls take from ~10 µs (AES) to tens of ms (RSA-4096). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'hsmkms_requests_total',
    help: 'KMS API calls by operation and outcome (ok, or the AWS exception name).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'hsmkms_request_duration_seconds',
    help: 'KMS API call latency from request received to response sent, by operation.',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const { stats } = options;
  if (stats) {
    new Gauge({
      name: 'hsmkms_backend_pool',
      help: 'HSM backend session pool statistics.',
      labelNames: ['stat'] as const,
      registers: [registry],
      collect() {
        // Read at scrape time only: nothing on the request path.
        for (const [stat, value] of Object.entries(stats())) this.set({ stat }, value);
      },
    });
  }
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'hsmkms_' });

  // prom-client hashes label values on every call; caching the children keeps the hot path to
  // one Map lookup and an increment.
  const counters = new Map<string, ReturnType<typeof requests.labels>>();
  const histograms = new Map<string, ReturnType<typeof latency.labels>>();

  return {
    registry,
    contentType: registry.contentType,
    observeRequest(operation, outcome, seconds) {
      const key = `${operation}\u0000${outcome}`;
      let counter = counters.get(key);
      if (!counter) {
        counter = requests.labels(operation, outcome);
        counters.set(key, counter);
      }
      counter.inc();
      let histogram = histograms.get(operation);
      if (!histogram) {
        histogram = latency.labels(operation);
        histograms.set(operation, histogram);
      }
      histogram.observe(seconds);
    },
    render: () => registry.metrics(),
  };
}

/**
 * In a cluster worker: answer the primary's requests for this worker's metrics (prom-client's
 * cluster protocol over the IPC channel), so the primary can serve the sum over all workers.
 */
export function shareWithClusterPrimary(metrics: Metrics): void {
  AggregatorRegistry.setRegistries([metrics.registry]);
  // Constructing one installs the worker's message listener.
  new AggregatorRegistry();
}

/**
 * In a serve worker: how many workers its slot has had replaced by `--recycle-worker-after`
 * before it (summed by the primary: the recycles of the whole server).
 */
export function reportWorkerRecycles(metrics: Metrics, recycles: number): void {
  new Gauge({
    name: 'hsmkms_worker_recycles',
    help: 'Workers replaced (after --recycle-worker-after token objects) before this one in its slot.',
    registers: [metrics.registry],
  }).set(recycles);
}

/** In the cluster primary: every worker's metrics, summed (histograms and counters add up). */
export function clusterMetrics(): Pick<Metrics, 'contentType' | 'render'> {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, render: () => aggregator.clusterMetrics() };
}
