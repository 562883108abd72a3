/**
 * Worker threads that make Cryptoki calls pkcs11js offers only synchronously (C_*Init,
 * C_GenerateRandom, C_GetAttributeValue, C_OpenSession, C_Login, …), so that a profile can keep
 * every HSM call off the event loop. Each thread loads the same module (the library is loaded
 * once per process, so session and object handles are shared) and runs a job's calls in order,
 * synchronously, then posts the last result back.
 *
 * A job that never returns (a hung HSM) keeps its thread; the pool then starts another so the
 * rest of the service goes on, and takes the hung thread back if it ever answers.
 *
 * Jobs on one session run in order on one thread: while a session has a job on a thread, its next
 * job is queued to that same thread, which starts it the moment the one before returns, without
 * waiting for the event loop to hear of the first. That is what lets the session pool queue an
 * Encrypt behind another on a busy session (session-pool.ts). Two guards keep it safe:
 * - a *fenced* job (one queued behind another holder's job) is skipped, not run, when a job on
 *   its session failed earlier in the same generation (the session may be mid-operation; the
 *   pool starts a new generation when the session comes back judged usable); its caller gets
 *   {@link JobSkipped} and tries again on another session;
 * - a job not yet started can be cancelled (a shared flag per job, claimed by compare-and-swap, so
 *   it either runs or is cancelled, never both): the jobs queued behind a hung call are.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { StaleHandleError } from './errors.js';

/** One Cryptoki call: the pkcs11js method name and its arguments. */
export type Step = readonly [fn: string, ...args: unknown[]];

/** What a job returns: the chosen call's result, and the job's buffers after the calls when asked. */
export interface JobResult {
  result: unknown;
  buffers?: Buffer[];
}

/** Where a job runs in the order of its session: the session's bytes, its generation, whether it is fenced. */
export interface SessionOrder {
  session: string;
  generation: number;
  fenced: boolean;
}

/** A job that did not run: a job before it on its session failed, or it was cancelled. Nothing reached the HSM. */
export class JobSkipped extends Error {
  constructor() {
    super('The PKCS#11 job did not run: its session failed or was set aside before it.');
    this.name = 'JobSkipped';
  }
}

/** Jobs a thread can have outstanding at once (its start flags form a ring of this size). */
const THREAD_QUEUE = 64;
/**
 * Where, after its start flags, a thread keeps the epoch of the job whose calls it is making,
 * plus one (0: none or a job without cached handles): see {@link CryptokiThreads.runsEpochBefore}.
 */
const RUNNING = THREAD_QUEUE;
/** Sessions whose cancelled generation is remembered ({@link CryptokiThreads.cancelPending}). */
const CANCELLED_SESSIONS_KEPT = 1024;
const PENDING = 0;
const STARTED = 1;
const CANCELLED = 2;

/**
 * The thread's code, as a string so the same source works from src/ (tests) and dist/. It never
 * calls C_Initialize or C_Finalize: the main thread initialised the module, and finalising it
 * would end every session of the process.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const pkcs11js = require(workerData.pkcs11js);
const starts = new Int32Array(workerData.starts);
const epochCell = new Int32Array(workerData.epochs);
// Per session: the generation in which a job on it last failed.
const failedIn = new Map();
const module = new pkcs11js.PKCS11();
module.load(workerData.modulePath);
// Loaded: from now on the thread may be terminated safely (see CryptokiThreads.close).
parentPort.postMessage({ ready: true });
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
parentPort.on('message', ({ id, slot, order, steps, copyBack, resultAt, epoch }) => {
  const calls = revive(steps);
  let reply;
  if (Atomics.compareExchange(starts, slot, ${PENDING}, ${STARTED}) !== ${PENDING} || (order && order.fenced && failedIn.get(order.session) === order.generation)) {
    reply = { id, skipped: true };
  } else if (epoch >= 0 && (Atomics.store(starts, ${RUNNING}, epoch + 1), Atomics.load(epochCell, 0) !== epoch)) {
    // A cached handle of an ended epoch: it may name another object now. Nothing is called.
    // (Said running before the check: the epoch's end either is seen here or waits for us.)
    Atomics.store(starts, ${RUNNING}, 0);
    reply = { id, stale: calls[0][0] };
  } else {
    try {
      let result;
      calls.forEach(([fn, ...args], i) => { const r = module[fn](...args); if (i === resultAt) result = r; });
      reply = { id, result: plain(result), buffers: copyBack ? buffersOf(calls, []).map((b) => new Uint8Array(b)) : undefined };
      if (order && failedIn.has(order.session) && failedIn.get(order.session) !== order.generation) failedIn.delete(order.session);
    } catch (e) {
      if (order) failedIn.set(order.session, order.generation);
      reply = { id, error: { name: e && e.name, message: e && e.message, code: e && e.code, method: e && e.method } };
    }
    Atomics.store(starts, ${RUNNING}, 0);
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
  order: SessionOrder | undefined;
  /** The epoch of the stamped handles its calls use (-1: none), checked by the thread right before them. */
  epoch: number;
  thread: Thread | undefined;
  /** Its index in the thread's start flags. */
  slot: number;
  /** Answered, cancelled or failed: a late reply is ignored. */
  settled: boolean;
  resolve: (value: JobResult) => void;
  reject: (error: unknown) => void;
}

interface Thread {
  worker: Worker;
  /** Posted and not yet answered, in order; the first is running (or about to). */
  jobs: Job[];
  /** One flag per outstanding job: PENDING, then STARTED by the thread or CANCELLED by us. */
  starts: Int32Array;
  nextSlot: number;
  /** Its running job outlived the caller's patience; it does not count against the limit until it answers. */
  stuck: boolean;
  /**
   * Settles once the thread has loaded pkcs11js and the module (or has failed or exited). Until
   * then it must not be terminated: pkcs11js's addon initialisation keeps a process-wide reference
   * and crashes the process (SIGSEGV in napi_create_reference) when its thread is terminated
   * halfway through it.
   */
  loaded: Promise<void>;
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
  /** The thread each session's outstanding jobs are on, and how many there are. */
  private readonly sessions = new Map<string, { thread: Thread; jobs: number }>();
  /**
   * Per session, the generation in which a job on it failed, as heard here. The thread's own
   * record covers the jobs queued behind the failure before this one heard of it; this one covers
   * a fenced job posted later, which may go to another thread once the session has none left.
   */
  private readonly failedIn = new Map<string, number>();
  /** Per session, the generation whose jobs were cancelled behind a hung call ({@link cancelPending}). */
  private readonly cancelledIn = new Map<string, number>();
  private nextId = 0;
  private skipped = 0;
  private closed = false;

  constructor(
    private readonly modulePath: string,
    /** Threads making calls at once (hung ones not counted). */
    private readonly limit: number,
    /** The current epoch of cached object handles (hsm-calls.ts), shared with every thread. */
    private readonly epochs: Int32Array = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)),
  ) {}

  /**
   * Runs the calls in order on one thread; the result is that of the call at `resultAt`. Buffers in the
   * arguments are copied to the thread (exact bytes, never the rest of a pooled allocation);
   * with `copyBack`, the thread's copies come back after the calls, in argument order, so the
   * caller can see what the module wrote into them (an HSM-generated GCM IV).
   */
  run(steps: Step[], copyBack = false, resultAt = steps.length - 1, order?: SessionOrder, epoch = -1): RunningJob {
    let job!: Job;
    const result = new Promise<JobResult>((resolve, reject) => {
      job = {
        id: this.nextId++, steps: steps.map((s) => plainCopy(s) as Step), copyBack, resultAt, order, epoch,
        thread: undefined, slot: 0, settled: false, resolve, reject,
      };
    });
    const onSession = order && this.sessions.get(order.session);
    if (this.closed) this.settle(job, new Error('The Cryptoki threads are closed.'));
    else if (order?.fenced && this.failedIn.get(order.session) === order.generation) this.settle(job, new JobSkipped());
    else if (order && this.cancelledIn.get(order.session) === order.generation && steps[0]![0] !== 'C_CloseSession') this.settle(job, new JobSkipped());
    else if (onSession && onSession.thread.jobs.length < THREAD_QUEUE) this.post(onSession.thread, job);
    else {
      this.queue.push(job);
      this.dispatch();
    }
    return {
      result,
      abandon: () => {
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        else if (job.thread) {
          // Not started yet (queued behind another job on its session): it never will.
          if (this.cancel(job)) this.settle(job, new JobSkipped());
          else job.thread.stuck = true;
        }
        this.dispatch();
      },
    };
  }

  /**
   * Cancels the jobs on `session` that have not started (those queued behind a hung call, say):
   * each fails with {@link JobSkipped} now and will not run; so does every job of this
   * `generation` posted later but C_CloseSession (a holder that made its job after the call was
   * given up), which would otherwise wait behind the hung call until its own deadline.
   */
  cancelPending(session: string, generation: number): void {
    // Pooled sessions only (generation 0: a session no pool lends). Kept after the session is
    // closed, until a session is opened with its handle again; the oldest dropped first.
    if (generation > 0) {
      this.cancelledIn.delete(session);
      this.cancelledIn.set(session, generation);
      if (this.cancelledIn.size > CANCELLED_SESSIONS_KEPT) this.cancelledIn.delete(this.cancelledIn.keys().next().value!);
    }
    const onSession = this.sessions.get(session);
    if (!onSession) return;
    for (const job of [...onSession.thread.jobs]) if (job.order?.session === session && this.cancel(job)) this.settle(job, new JobSkipped());
  }

  /**
   * Whether a thread is making the calls of a job with cached handles of an epoch before `epoch`
   * (one that passed its epoch check before the epoch ended). Until none is, a new object could
   * take the number such a call is about to use. A thread whose call outlived its timeout is not
   * waited for: what a hung HSM does with that call is out of our hands.
   */
  runsEpochBefore(epoch: number): boolean {
    for (const t of this.busy) {
      if (t.stuck) continue;
      const running = Atomics.load(t.starts, RUNNING);
      if (running > 0 && running - 1 < epoch) return true;
    }
    return false;
  }

  /** The generation of `session` whose jobs were cancelled ({@link cancelPending}), if any. */
  cancelledGeneration(session: string): number | undefined {
    return this.cancelledIn.get(session);
  }

  /** A session was opened with this handle: a closed one's cancellation no longer applies. */
  forgetCancelled(session: string): void {
    this.cancelledIn.delete(session);
  }

  /**
   * Starts threads up to the limit before they are needed, and resolves once each has loaded the
   * module: started on demand, under a first burst of calls on a small machine, they delay those
   * calls by as much as their loading takes together.
   */
  async prestart(): Promise<void> {
    const starting: Promise<unknown>[] = [];
    while (!this.closed && this.idle.length + this.busy.size < this.limit) {
      const thread = this.spawn();
      this.idle.push(thread);
      starting.push(thread.loaded);
    }
    await Promise.all(starting);
  }

  stats(): { threads: number; busy: number; stuck: number; skipped: number } {
    let stuck = 0;
    for (const t of this.busy) if (t.stuck) stuck++;
    return { threads: this.idle.length + this.busy.size, busy: this.busy.size, stuck, skipped: this.skipped };
  }

  /**
   * Ends every thread; jobs still queued, or on a thread and unanswered when it ends, fail. A
   * thread inside a call that does not return (a hung HSM) cannot end until it does: it is told
   * to, and left behind after {@link TERMINATE_WAIT_MS} (it keeps no process alive), so that
   * closing never waits on the module.
   */
  async close(): Promise<void> {
    this.closed = true;
    const closed = () => new Error('The Cryptoki threads are closed.');
    for (const job of this.queue.splice(0)) this.settle(job, closed());
    const all = [...this.idle.splice(0), ...this.busy];
    this.busy.clear();
    // A thread still loading the module is let finish first (see Thread.loaded), for 10 s at most.
    await Promise.all(
      all.map(async (t) => {
        await withinMs(t.loaded, 10_000);
        await withinMs(t.worker.terminate(), TERMINATE_WAIT_MS);
        // Nothing answers them now (a terminated thread posts nothing).
        for (const job of t.jobs.splice(0)) this.settle(job, closed());
      }),
    );
  }

  private active(): number {
    let n = 0;
    for (const t of this.busy) if (!t.stuck) n++;
    return n;
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const job = this.queue[0]!;
      // A session that got a job on a thread meanwhile keeps its order there.
      const onSession = job.order && this.sessions.get(job.order.session);
      if (onSession && onSession.thread.jobs.length >= THREAD_QUEUE) {
        // Only behind a hung call: the session is being set aside.
        this.settle(this.queue.shift()!, new JobSkipped());
        continue;
      }
      let thread = onSession?.thread ?? this.idle.pop();
      if (!thread) {
        if (this.active() >= this.limit) return;
        thread = this.spawn();
      }
      this.queue.shift();
      this.post(thread, job);
    }
  }

  private post(thread: Thread, job: Job): void {
    job.thread = thread;
    job.slot = thread.nextSlot;
    thread.nextSlot = (thread.nextSlot + 1) % THREAD_QUEUE;
    Atomics.store(thread.starts, job.slot, PENDING);
    thread.jobs.push(job);
    this.busy.add(thread);
    const idle = this.idle.indexOf(thread);
    if (idle >= 0) this.idle.splice(idle, 1);
    if (job.order) {
      const onSession = this.sessions.get(job.order.session);
      if (onSession) onSession.jobs++;
      else this.sessions.set(job.order.session, { thread, jobs: 1 });
    }
    thread.worker.postMessage({ id: job.id, slot: job.slot, order: job.order, steps: job.steps, copyBack: job.copyBack, resultAt: job.resultAt, epoch: job.epoch });
  }

  /** Claims a job that has not started, so that it never will. */
  private cancel(job: Job): boolean {
    return !!job.thread && Atomics.compareExchange(job.thread.starts, job.slot, PENDING, CANCELLED) === PENDING;
  }

  private settle(job: Job, error: unknown, value?: JobResult): void {
    if (job.settled) return;
    job.settled = true;
    if (error instanceof JobSkipped) this.skipped++;
    if (error) job.reject(error);
    else job.resolve(value!);
  }

  /** The thread answered (or failed) its first job. */
  private finished(thread: Thread): Job | undefined {
    const job = thread.jobs.shift();
    thread.stuck = false;
    if (job?.order) {
      const onSession = this.sessions.get(job.order.session);
      if (onSession && --onSession.jobs === 0) this.sessions.delete(job.order.session);
    }
    if (thread.jobs.length === 0) {
      this.busy.delete(thread);
      if (!this.closed) this.idle.push(thread);
    }
    return job;
  }

  private spawn(): Thread {
    const require = createRequire(import.meta.url);
    const starts = new Int32Array(new SharedArrayBuffer((THREAD_QUEUE + 1) * Int32Array.BYTES_PER_ELEMENT));
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { pkcs11js: require.resolve('pkcs11js'), modulePath: this.modulePath, starts: starts.buffer, epochs: this.epochs.buffer },
    });
    // Threads never keep the process alive; the backend's close() ends them.
    worker.unref();
    let loaded!: () => void;
    const thread: Thread = { worker, jobs: [], starts, nextSlot: 0, stuck: false, loaded: new Promise<void>((resolve) => (loaded = resolve)) };
    worker.once('exit', () => loaded());
    worker.on('message', (reply: { ready?: boolean; id: number; skipped?: boolean; stale?: string; result?: unknown; buffers?: Uint8Array[]; error?: Record<string, unknown> }) => {
      if (reply.ready) {
        loaded();
        return;
      }
      const job = this.finished(thread);
      if (job?.order) {
        const { session, generation } = job.order;
        if (reply.error) this.failedIn.set(session, generation);
        else if (!reply.skipped && !reply.stale && this.failedIn.has(session) && (this.failedIn.get(session) !== generation || job.steps[0]![0] === 'C_CloseSession'))
          this.failedIn.delete(session);
      }
      if (job && job.id === reply.id) {
        if (reply.skipped) this.settle(job, new JobSkipped());
        else if (reply.stale) this.settle(job, new StaleHandleError(reply.stale));
        else if (reply.error) this.settle(job, Object.assign(new Error(String(reply.error.message)), reply.error));
        else this.settle(job, undefined, { result: revive(reply.result), buffers: reply.buffers?.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)) });
      }
      this.dispatch();
    });
    worker.on('error', (error) => {
      this.busy.delete(thread);
      const i = this.idle.indexOf(thread);
      if (i >= 0) this.idle.splice(i, 1);
      for (const job of thread.jobs.splice(0)) {
        if (job.order) this.sessions.delete(job.order.session);
        this.settle(job, error);
      }
      this.dispatch();
    });
    return thread;
  }
}

/** How long close() waits for a thread to end: one blocked in the module ends only when its call returns. */
const TERMINATE_WAIT_MS = 2000;

/** Waits for `promise` (its outcome ignored) or `ms`, whichever comes first; the timer keeps no process alive. */
async function withinMs(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms).unref()))]);
  } finally {
    clearTimeout(timer);
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
