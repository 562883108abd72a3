/**
 * Prometheus metrics with prom-client. Each service instance owns its Registry (no global
 * default registry), so several servers — or tests — in one process never share counters.
 */
import cluster, { type Worker } from 'node:cluster';
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
 * The cluster's metrics protocol over the IPC channel: a worker says it can answer once its
 * metrics exist, and the primary asks only those (see {@link clusterMetrics}).
 */
const METRICS_READY = 'hsmkms:metrics-ready';
const METRICS_REQUEST = 'hsmkms:metrics-request';
const METRICS_RESPONSE = 'hsmkms:metrics-response';
const METRICS_FINAL = 'hsmkms:metrics-final';
/** How long the primary waits for a worker's answer. */
const CLUSTER_METRICS_TIMEOUT_MS = 5_000;

interface MetricsMessage {
  type?: string;
  id?: number;
  metrics?: Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
  error?: string;
}

/**
 * In a cluster worker: answer the primary's requests for this worker's metrics over the IPC
 * channel, so the primary can serve the sum over all workers.
 */
export function shareWithClusterPrimary(metrics: Metrics): void {
  process.on('message', (message: MetricsMessage) => {
    if (message?.type !== METRICS_REQUEST) return;
    metrics.registry.getMetricsAsJSON().then(
      (json) => process.send?.({ type: METRICS_RESPONSE, id: message.id, metrics: json }),
      (error: unknown) => process.send?.({ type: METRICS_RESPONSE, id: message.id, error: String(error) }),
    );
  });
  process.send?.({ type: METRICS_READY });
}

/**
 * In a replaced worker, once its server has closed: its final counts, which the primary keeps in
 * the sum after it exits (see {@link clusterMetrics}). Resolves once sent (or when it cannot be).
 */
export function sendFinalMetrics(metrics: Metrics): Promise<void> {
  return metrics.registry.getMetricsAsJSON().then(
    (json) =>
      new Promise<void>((resolve) => {
        if (!process.send || !process.connected) return resolve();
        process.send({ type: METRICS_FINAL, metrics: json }, undefined, {}, () => resolve());
      }),
    () => undefined,
  );
}


/**
 * In the cluster primary: every serving worker's metrics, summed (histograms and counters add
 * up). Only workers that said they can answer are asked, and one that exits is no longer waited
 * for: a worker still starting (a replacement, a restart) or one exiting (replaced) never holds a
 * scrape up. prom-client's own cluster aggregation asks every connected worker and fails the
 * scrape after 5 s when one of them cannot answer. The counters and histograms a replaced worker
 * sent as it finished ({@link sendFinalMetrics}) stay in the sum, so that they do not go down
 * (which Prometheus reads as a reset); a worker that crashes takes its counts with it.
 */
export function clusterMetrics(recycles?: () => number): Pick<Metrics, 'contentType' | 'render'> {
  type MetricsJson = NonNullable<MetricsMessage['metrics']>;
  const ready = new Set<Worker>();
  const pending = new Map<number, { waiting: Set<Worker>; responses: Map<Worker, MetricsJson>; settle: (error?: Error) => void }>();
  /** The final counts of the workers replaced so far, summed (a chain: each final adds in order). */
  let retired: Promise<MetricsJson | undefined> = Promise.resolve(undefined);
  let nextId = 0;
  const answered = (id: number, worker: Worker, message?: MetricsMessage) => {
    const request = pending.get(id);
    if (!request?.waiting.delete(worker)) return;
    if (message?.error !== undefined) return request.settle(new Error(message.error));
    if (message?.metrics) request.responses.set(worker, message.metrics);
    if (request.waiting.size === 0) request.settle();
  };
  const finished = (worker: Worker, final: MetricsJson) => {
    ready.delete(worker);
    // Its final counts replace any answer it gave to a scrape still collecting.
    for (const [id, request] of [...pending]) {
      request.responses.delete(worker);
      answered(id, worker);
    }
    const counts = final.filter((metric) => String(metric.type) === 'counter' || String(metric.type) === 'histogram');
    retired = retired.then((sum) => AggregatorRegistry.aggregate(sum ? [sum, counts] : [counts]).getMetricsAsJSON(), () => undefined);
  };
  cluster.on('message', (worker, message: MetricsMessage) => {
    if (message?.type === METRICS_READY) ready.add(worker);
    else if (message?.type === METRICS_RESPONSE && typeof message.id === 'number') answered(message.id, worker, message);
    else if (message?.type === METRICS_FINAL && Array.isArray(message.metrics)) finished(worker, message.metrics);
  });
  cluster.on('exit', (worker) => {
    ready.delete(worker);
    for (const id of [...pending.keys()]) answered(id, worker);
  });
  const render = () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const waiting = new Set([...ready].filter((worker) => worker.isConnected()));
      const responses = new Map<Worker, MetricsJson>();
      const timer = setTimeout(() => settle(new Error(`a worker did not answer within ${CLUSTER_METRICS_TIMEOUT_MS} ms`)), CLUSTER_METRICS_TIMEOUT_MS);
      const settle = (error?: Error) => {
        clearTimeout(timer);
        pending.delete(id);
        if (error) return reject(error);
        const own = recycles ? [recyclesMetric(recycles())] : [];
        retired
          .then((sum) => AggregatorRegistry.aggregate([...responses.values(), ...own, ...(sum ? [sum] : [])]).metrics())
          .then(resolve, reject);
      };
      pending.set(id, { waiting, responses, settle });
      if (waiting.size === 0) return settle();
      for (const worker of waiting) worker.send({ type: METRICS_REQUEST, id });
    });
  return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, render };
}

/**
 * `hsmkms_worker_recycles`, which the primary reports itself: it alone knows when a replacement
 * takes over (summed over the workers, the old and the new one would both count while they overlap).
 */
function recyclesMetric(value: number): object {
  return [
    {
      name: 'hsmkms_worker_recycles',
      help: 'Workers replaced after --recycle-worker-after token objects, since the server started.',
      type: 'gauge',
      aggregator: 'sum',
      values: [{ value, labels: {} }],
    },
  ];
}
