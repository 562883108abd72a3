/**
 * Worker threads that make Cryptoki calls pkcs11js offers only synchronously (C_*Init,
 * C_GenerateRandom, C_GetAttributeValue, C_OpenSession, C_Login, …), so that a profile can keep
 * every HSM call off the event loop. Each thread loads the same module (the library is loaded
 * once per process, so session and object handles are shared) and runs a job's calls in order,
 * synchronously, then posts the last result back.
 *
 * A job that never returns (a hung HSM) keeps its thread; the pool then starts another so the
 * rest of the service goes on, and takes the hung thread back if it ever answers.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** One Cryptoki call: the pkcs11js method name and its arguments. */
export type Step = readonly [fn: string, ...args: unknown[]];

/** What a job returns: the chosen call's result, and the job's buffers after the calls when asked. */
export interface JobResult {
  result: unknown;
  buffers?: Buffer[];
}

/**
 * The thread's code, as a string so the same source works from src/ (tests) and dist/. It never
 * calls C_Initialize or C_Finalize: the main thread initialised the module, and finalising it
 * would end every session of the process.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const pkcs11js = require(workerData.pkcs11js);
const module = new pkcs11js.PKCS11();
module.load(workerData.modulePath);
const revive = (v) => {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) o[k] = revive(v[k]); return o; }
  return v;
};
const plain = (v) => {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) o[k] = plain(v[k]); return o; }
  return v;
};
const buffersOf = (v, out) => {
  if (v instanceof Uint8Array) out.push(v);
  else if (Array.isArray(v)) for (const x of v) buffersOf(x, out);
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) buffersOf(v[k], out);
  return out;
};
parentPort.on('message', ({ id, steps, copyBack, resultAt }) => {
  const calls = revive(steps);
  let reply;
  try {
    let result;
    calls.forEach(([fn, ...args], i) => { const r = module[fn](...args); if (i === resultAt) result = r; });
    reply = { id, result: plain(result), buffers: copyBack ? buffersOf(calls, []).map((b) => new Uint8Array(b)) : undefined };
  } catch (e) {
    reply = { id, error: { name: e && e.name, message: e && e.message, code: e && e.code, method: e && e.method } };
  }
  parentPort.postMessage(reply);
  // The copies of plaintext and key material this thread received are wiped once answered.
  for (const b of buffersOf(calls, [])) b.fill(0);
});
`;

interface Job {
  id: number;
  steps: Step[];
  copyBack: boolean;
  resultAt: number;
  thread: Thread | undefined;
  resolve: (value: JobResult) => void;
  reject: (error: unknown) => void;
}

interface Thread {
  worker: Worker;
  job: Job | undefined;
  /** Its job outlived the caller's patience; it does not count against the limit until it answers. */
  stuck: boolean;
}

/** A job under way: its result, and a way to give up on it. */
export interface RunningJob {
  result: Promise<JobResult>;
  /** The caller stopped waiting: a queued job is dropped, a running one's thread is set aside. */
  abandon(): void;
}

export class CryptokiThreads {
  private readonly idle: Thread[] = [];
  private readonly busy = new Set<Thread>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly modulePath: string,
    /** Threads making calls at once (hung ones not counted). */
    private readonly limit: number,
  ) {}

  /**
   * Runs the calls in order on one thread; the result is that of the call at `resultAt`. Buffers in the
   * arguments are copied to the thread (exact bytes, never the rest of a pooled allocation);
   * with `copyBack`, the thread's copies come back after the calls, in argument order, so the
   * caller can see what the module wrote into them (an HSM-generated GCM IV).
   */
  run(steps: Step[], copyBack = false, resultAt = steps.length - 1): RunningJob {
    let job!: Job;
    const result = new Promise<JobResult>((resolve, reject) => {
      job = { id: this.nextId++, steps: steps.map((s) => plainCopy(s) as Step), copyBack, resultAt, thread: undefined, resolve, reject };
    });
    if (this.closed) job.reject(new Error('The Cryptoki threads are closed.'));
    else {
      this.queue.push(job);
      this.dispatch();
    }
    return {
      result,
      abandon: () => {
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        else if (job.thread && job.thread.job === job) job.thread.stuck = true;
        this.dispatch();
      },
    };
  }

  stats(): { threads: number; busy: number; stuck: number } {
    let stuck = 0;
    for (const t of this.busy) if (t.stuck) stuck++;
    return { threads: this.idle.length + this.busy.size, busy: this.busy.size, stuck };
  }

  /** Ends every thread; jobs still queued fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('The Cryptoki threads are closed.'));
    const all = [...this.idle.splice(0), ...this.busy];
    this.busy.clear();
    await Promise.all(all.map((t) => t.worker.terminate()));
  }

  private active(): number {
    let n = 0;
    for (const t of this.busy) if (!t.stuck) n++;
    return n;
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      let thread = this.idle.pop();
      if (!thread) {
        if (this.active() >= this.limit) return;
        thread = this.spawn();
      }
      const job = this.queue.shift()!;
      thread.job = job;
      job.thread = thread;
      this.busy.add(thread);
      thread.worker.postMessage({ id: job.id, steps: job.steps, copyBack: job.copyBack, resultAt: job.resultAt });
    }
  }

  private spawn(): Thread {
    const require = createRequire(import.meta.url);
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { pkcs11js: require.resolve('pkcs11js'), modulePath: this.modulePath },
    });
    // Threads never keep the process alive; the backend's close() ends them.
    worker.unref();
    const thread: Thread = { worker, job: undefined, stuck: false };
    worker.on('message', (reply: { id: number; result?: unknown; buffers?: Uint8Array[]; error?: Record<string, unknown> }) => {
      const job = thread.job;
      thread.job = undefined;
      thread.stuck = false;
      this.busy.delete(thread);
      if (!this.closed) this.idle.push(thread);
      if (job && job.id === reply.id) {
        if (reply.error) job.reject(Object.assign(new Error(String(reply.error.message)), reply.error));
        else job.resolve({ result: revive(reply.result), buffers: reply.buffers?.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)) });
      }
      this.dispatch();
    });
    worker.on('error', (error) => {
      this.busy.delete(thread);
      const i = this.idle.indexOf(thread);
      if (i >= 0) this.idle.splice(i, 1);
      thread.job?.reject(error);
      thread.job = undefined;
      this.dispatch();
    });
    return thread;
  }
}

/** Exact-size copies of every buffer, so a view never drags its whole ArrayBuffer along. */
function plainCopy(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(plainCopy);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plainCopy(v);
    return out;
  }
  return value;
}

/** Buffers again where the thread sent Uint8Arrays. */
function revive(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  return value;
}

/** Every buffer in a value, in the same order the thread lists them. */
export function buffersOf(value: unknown, out: Buffer[] = []): Buffer[] {
  if (value instanceof Uint8Array) out.push(value as Buffer);
  else if (Array.isArray(value)) for (const v of value) buffersOf(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) buffersOf(v, out);
  return out;
}
