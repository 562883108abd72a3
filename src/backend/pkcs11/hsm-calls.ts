/**
 * Every Cryptoki call the request path makes goes through {@link HsmCalls}: the one place that
 * decides, from the profile's `syncCalls`, whether a call runs on the event loop or off it, and
 * that bounds in time every call made off it.
 *
 * Off the event loop there are two ways, chosen here too:
 * - pkcs11js's own asynchronous variant (libuv's thread pool), for an operation that has one
 *   (C_Encrypt, C_Sign, C_UnwrapKey, …) when the profile lets the calls before it (C_*Init)
 *   run on the event loop — the SoftHSM2 profile's RSA signatures;
 * - otherwise one of our worker threads runs the whole sequence (C_*Init and the operation, or a
 *   C_FindObjects* triple) in one hop — every call of the `cloudhsm` profile, including those
 *   pkcs11js offers only synchronously.
 * Start-up and the CLI call pkcs11js directly (module.ts): nothing waits for them.
 *
 * It is also where a cached object handle whose epoch has ended is refused (handle-cache.ts):
 * before the calls on the event loop, and on the worker thread right before its calls.
 */
import type { Handle, KeyPair, Mechanism, PKCS11, SessionInfo, Template, TokenInfo } from 'pkcs11js';
import { withDeadline } from '../../core/deadline.js';
import { DEFAULT_HSM_CALL_TIMEOUT_MS } from '../../config/hsm.js';
import { CryptokiThreads, buffersOf, type SessionOrder, type Step } from './cryptoki-threads.js';
import { HsmError, StaleHandleError } from './errors.js';
import type { CallKind, HsmProfile } from './profiles.js';

/** The Cryptoki functions the request path uses, with pkcs11js's synchronous signatures. */
export interface Cryptoki {
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_GetSessionInfo(session: Handle): SessionInfo;
  C_GetTokenInfo(slot: Handle): TokenInfo;
  C_Login(session: Handle, userType: number, pin: string): void;
  C_FindObjectsInit(session: Handle, template: Template): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Template): Template;
  C_CreateObject(session: Handle, template: Template): Handle;
  C_DestroyObject(session: Handle, object: Handle): void;
  C_GenerateRandom(session: Handle, buffer: Buffer): Buffer;
  C_EncryptInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_DecryptInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_SignInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_VerifyInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_Encrypt(session: Handle, data: Buffer, out: Buffer): Buffer;
  C_Decrypt(session: Handle, data: Buffer, out: Buffer): Buffer;
  C_Sign(session: Handle, data: Buffer, out: Buffer): Buffer;
  C_Verify(session: Handle, data: Buffer, signature: Buffer): boolean;
  C_GenerateKey(session: Handle, mechanism: Mechanism, template: Template): Handle;
  C_GenerateKeyPair(session: Handle, mechanism: Mechanism, publicTemplate: Template, privateTemplate: Template): KeyPair;
  C_WrapKey(session: Handle, mechanism: Mechanism, wrappingKey: Handle, key: Handle, out: Buffer): Buffer;
  C_UnwrapKey(session: Handle, mechanism: Mechanism, unwrappingKey: Handle, wrapped: Buffer, template: Template): Handle;
  C_DeriveKey(session: Handle, mechanism: Mechanism, key: Handle, template: Template): Handle;
}

/** Calls whose kind is fixed by what they are. */
const FIXED_KIND = {
  C_OpenSession: 'session',
  C_CloseSession: 'session',
  C_GetSessionInfo: 'session',
  C_GetTokenInfo: 'session',
  C_Login: 'session',
  C_FindObjectsInit: 'object',
  C_FindObjects: 'object',
  C_FindObjectsFinal: 'object',
  C_GetAttributeValue: 'object',
  C_CreateObject: 'object',
  C_DestroyObject: 'object',
  C_GenerateRandom: 'random',
  C_EncryptInit: 'init',
  C_DecryptInit: 'init',
  C_SignInit: 'init',
  C_VerifyInit: 'init',
} as const satisfies Partial<Record<keyof Cryptoki, CallKind>>;

/** A call whose kind is fixed. */
export type HelperFn = keyof typeof FIXED_KIND;
/** An operation: its kind depends on the key (an RSA or an AES signature, say). */
export type OperationFn = Exclude<keyof Cryptoki, HelperFn>;
type InitFn = 'C_EncryptInit' | 'C_DecryptInit' | 'C_SignInit' | 'C_VerifyInit';

/** pkcs11js's thread-pool variants of operations. */
const NATIVE_ASYNC: Readonly<Record<OperationFn, string>> = {
  C_Encrypt: 'C_EncryptAsync',
  C_Decrypt: 'C_DecryptAsync',
  C_Sign: 'C_SignAsync',
  C_Verify: 'C_VerifyAsync',
  C_GenerateKey: 'C_GenerateKeyAsync',
  C_GenerateKeyPair: 'C_GenerateKeyPairAsync',
  C_WrapKey: 'C_WrapKeyAsync',
  C_UnwrapKey: 'C_UnwrapKeyAsync',
  C_DeriveKey: 'C_DeriveKeyAsync',
};

type Awaitable<T> = T | Promise<T>;

/** The calls that make objects in the token, and how many each makes when it succeeds. */
const OBJECTS_MADE: Readonly<Partial<Record<keyof Cryptoki, number>>> = {
  C_CreateObject: 1,
  C_GenerateKey: 1,
  C_GenerateKeyPair: 2,
  C_UnwrapKey: 1,
  C_DeriveKey: 1,
};

/**
 * Objects made through any {@link HsmCalls} of this process, per module path. Process-wide on
 * purpose: a module is loaded once per process (every `dlopen` of it returns the same library),
 * so the default backend and the custom key stores' keyrings on the same module share what it
 * keeps of their destroyed objects (see the profile's `recycleWorkerAfter`).
 */
const objectsMadeByModule = new Map<string, number>();

/** Calls whose first argument is a slot, not a session. */
const SLOT_CALLS: ReadonlySet<string> = new Set(['C_OpenSession', 'C_GetTokenInfo']);
/** Calls a fenced session handle still makes: probing and ending the session. */
const NEVER_FENCED: ReadonlySet<string> = new Set(['C_GetSessionInfo', 'C_CloseSession', 'C_FindObjectsFinal']);

/**
 * Per call, the argument that is an object handle a cache may hold (a key, or the object
 * destroyed): where a handle stamped with an epoch ({@link HsmCalls.stamp}) is looked for.
 */
const OBJECT_ARG: Readonly<Partial<Record<string, number>>> = {
  C_EncryptInit: 3,
  C_DecryptInit: 3,
  C_SignInit: 3,
  C_VerifyInit: 3,
  C_DestroyObject: 2,
  C_GetAttributeValue: 2,
  C_WrapKey: 3,
  C_UnwrapKey: 3,
  C_DeriveKey: 3,
};

/** A call that did not answer in time. `settled` resolves when it finally returns (or never). */
export class HsmTimeoutError extends HsmError {
  constructor(
    fn: string,
    timeoutMs: number,
    /** Settles when the abandoned call returns; its session must not be reused before. */
    readonly settled: Promise<unknown>,
    /** The session the call was made on (undefined: a call on a slot, or not known). */
    private readonly session?: Handle,
  ) {
    super('ERR_HSM_TIMEOUT', 0, fn, 'timeout', `${fn} did not answer within ${timeoutMs} ms`);
  }

  /**
   * Whether the hung call was made on `session` (any handle to it), so that it must be set aside:
   * a timeout that reached a holder of `session` from a call on another session (a key unwrapped
   * on the owner session) leaves it free. True when the call's session is not known.
   */
  hungOn(session: Handle): boolean {
    return this.session === undefined || Buffer.compare(this.session, session) === 0;
  }
}

export interface HsmCallsOptions {
  /** How long a call made off the event loop may take before it is given up (default 30 s). */
  timeoutMs?: number;
  /** Worker threads making calls at once (default 10). */
  threads?: number;
  /**
   * Told when an epoch ends ({@link HsmCalls.newEpoch}): another holder of object handles into
   * this module in this process (the TLS engine), whose handles a lost login ends too.
   */
  onNewEpoch?: (() => void) | undefined;
}

export class HsmCalls {
  private readonly threads: CryptokiThreads;
  private readonly timeoutMs: number;
  private readonly onNewEpoch: (() => void) | undefined;
  private readonly sync: ReadonlySet<CallKind>;
  private readonly native: Record<string, (...args: unknown[]) => unknown>;
  /** Per session (its bytes): the generation its jobs carry; a new one each time it comes back usable. */
  private readonly generations = new Map<string, number>();
  private nextGeneration = 1;
  /** Handles given to a second holder of a session: their jobs are fenced. */
  private readonly fencedHandles = new WeakSet<Handle>();
  /**
   * The epoch of the handles the runtime caches (the owner session's objects, the token keys it
   * looked up), in memory the worker threads share: a thread compares it with a job's right
   * before making the job's calls.
   */
  private readonly epochCell = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  /** Object handles made in an epoch ({@link stamp}), by handle object. */
  private readonly stamps = new WeakMap<Handle, number>();

  constructor(
    module: PKCS11,
    private readonly modulePath: string,
    profile: HsmProfile,
    options: HsmCallsOptions = {},
  ) {
    this.native = module as unknown as Record<string, (...args: unknown[]) => unknown>;
    this.sync = profile.syncCalls;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HSM_CALL_TIMEOUT_MS;
    this.onNewEpoch = options.onNewEpoch;
    this.threads = new CryptokiThreads(modulePath, options.threads ?? 10, this.epochCell);
  }

  /**
   * The current epoch of cached handles: a handle stamped with an older one is never passed to
   * the module again, on any thread (an HSM may give its number to a new object).
   */
  get epoch(): number {
    return Atomics.load(this.epochCell, 0);
  }

  /** Ends the current epoch: every handle stamped so far is stale from now on. Before any object of the next is made. */
  newEpoch(): void {
    Atomics.add(this.epochCell, 0, 1);
    this.onNewEpoch?.();
  }

  /**
   * Resolves once no worker thread is making a call with a handle of an ended epoch (one that
   * passed its check just before the epoch ended), or after the call timeout: before the first
   * object of a new epoch is made, so that it cannot take a number such a call is about to use.
   * At once in the usual case (nothing of an old epoch on a thread).
   */
  async drained(): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (this.threads.runsEpochBefore(this.epoch) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  }

  /** Marks `handle` (this very object, as the cache hands it out) as made or found in `epoch`. */
  stamp(handle: Handle, epoch: number): void {
    this.stamps.set(handle, epoch);
  }

  /** A call of fixed kind: session, object and random calls. */
  call<F extends HelperFn>(fn: F, ...args: Parameters<Cryptoki[F]>): Awaitable<ReturnType<Cryptoki[F]>> {
    const result = this.steps(FIXED_KIND[fn], [[fn, ...args]]);
    if (OBJECTS_MADE[fn]) return this.counted(fn, result) as Awaitable<ReturnType<Cryptoki[F]>>;
    if (fn !== 'C_OpenSession') return result as Awaitable<ReturnType<Cryptoki[F]>>;
    // A new session may reuse a closed one's handle: nothing recorded about that one applies.
    const opened = (session: Handle) => {
      const key = keyOf(session);
      this.generations.delete(key);
      this.threads.forgetCancelled(key);
      return session;
    };
    return (result instanceof Promise ? result.then(opened) : opened(result as Handle)) as Awaitable<ReturnType<Cryptoki[F]>>;
  }

  /** An operation of the given kind (generation, wrapping, unwrapping, derivation). */
  op<F extends OperationFn>(kind: CallKind, fn: F, ...args: Parameters<Cryptoki[F]>): Awaitable<ReturnType<Cryptoki[F]>> {
    const result = this.steps(kind, [[fn, ...args]]);
    return (OBJECTS_MADE[fn] ? this.counted(fn, result) : result) as Awaitable<ReturnType<Cryptoki[F]>>;
  }

  /**
   * Objects made in the token through this module by this process so far (this instance's and
   * any other's on the same module path): what SoftHSM2 keeps a remnant of once destroyed.
   */
  objectsMade(): number {
    return objectsMadeByModule.get(this.modulePath) ?? 0;
  }

  /** Counts the objects `fn` made once it has succeeded. */
  private counted(fn: keyof Cryptoki, result: unknown): unknown {
    const count = () => objectsMadeByModule.set(this.modulePath, this.objectsMade() + OBJECTS_MADE[fn]!);
    if (!(result instanceof Promise)) {
      count();
      return result;
    }
    return result.then((made: unknown) => {
      count();
      return made;
    });
  }

  /**
   * C_*Init followed by its single-part operation on the same session, as one unit. With
   * `copyBack`, whatever the module writes into the mechanism's buffers (a GCM IV the HSM chose)
   * is in them afterwards however the call ran.
   */
  initAndRun<I extends InitFn, F extends 'C_Encrypt' | 'C_Decrypt' | 'C_Sign' | 'C_Verify'>(
    kind: CallKind,
    init: [I, ...Parameters<Cryptoki[I]>],
    op: [F, ...Parameters<Cryptoki[F]>],
    options: { copyBack?: boolean } = {},
  ): Awaitable<ReturnType<Cryptoki[F]>> {
    return this.steps(kind, [init, op], options.copyBack) as Awaitable<ReturnType<Cryptoki[F]>>;
  }

  /**
   * C_FindObjectsInit, C_FindObjects and C_FindObjectsFinal as one unit. When a step fails the
   * search is ended anyway, so the session is not left in it.
   */
  async findObjects(session: Handle, template: Template, max: number): Promise<Handle[]> {
    const steps: Step[] = [
      ['C_FindObjectsInit', session, template],
      ['C_FindObjects', session, max],
      ['C_FindObjectsFinal', session],
    ];
    try {
      return (await this.steps('object', steps, false, 1)) as Handle[];
    } catch (e) {
      await Promise.resolve()
        .then(() => this.call('C_FindObjectsFinal', session))
        .catch(() => undefined);
      throw e;
    }
  }

  /**
   * Whether C_*Init and its operation run on a worker thread under this profile, which is what
   * lets a session take a second job before the first returns (the session pool's queueing).
   */
  get initRunsOnThreads(): boolean {
    return !this.sync.has('init');
  }

  /** The session starts a new generation: it came back usable, whatever failed on it before. */
  newGeneration(session: Handle): void {
    this.generations.set(keyOf(session), this.nextGeneration++);
  }

  /** The session is closed: forget it. */
  forgetSession(session: Handle): void {
    this.generations.delete(keyOf(session));
  }

  /**
   * A handle for a second holder of `session`: the same session, whose jobs are fenced (skipped
   * with JobSkipped when a job before them on the session failed in this generation).
   */
  fencedHandle(session: Handle): Handle {
    const handle = Buffer.from(session);
    this.fencedHandles.add(handle);
    return handle;
  }

  /** Cancels the jobs on `session` that have not started (behind a hung call). */
  cancelPending(session: Handle): void {
    const key = keyOf(session);
    this.threads.cancelPending(key, this.generations.get(key) ?? 0);
  }

  /** Worker threads in use, for metrics and tests. */
  stats(): { threads: number; busy: number; stuck: number; skipped: number } {
    return this.threads.stats();
  }

  /**
   * Where the profile makes AES-GCM calls off the event loop (a network HSM: every request's
   * calls go to the threads), starts every thread now rather than in the first burst of requests.
   */
  async prestartThreads(): Promise<void> {
    if (!this.sync.has('aes')) await this.threads.prestart();
  }

  close(): Promise<void> {
    return this.threads.close();
  }

  /**
   * The decision. `kind` is the kind of the last step (the operation); the steps before it are
   * helpers of fixed kind. The result is that of the step at `resultAt` (by default the last). All on the event loop when the profile allows all of them there;
   * helpers inline and the operation on libuv's pool when that is allowed and pkcs11js has an
   * asynchronous variant; otherwise the whole sequence on a worker thread.
   */
  private steps(kind: CallKind, steps: Step[], copyBack = false, resultAt = steps.length - 1): unknown {
    const last = steps.length - 1;
    // On the event loop nothing can end the epoch between this check and the calls below; a
    // worker thread checks again right before its calls (the epoch may end while the job waits).
    const epoch = this.epochOf(steps);
    // Plain loops: this runs for every PKCS#11 call of every request (two per Encrypt), and the
    // array methods, rest destructuring and spread calls it was written with made a closure and
    // two or three arrays per call for V8 to allocate and collect.
    let setupInline = true;
    for (let i = 0; i < last && setupInline; i++) setupInline = this.sync.has(FIXED_KIND[steps[i]![0] as HelperFn]);
    if (setupInline && this.sync.has(kind)) {
      let result: unknown;
      for (let i = 0; i <= last; i++) {
        const r = callStep(this.native, steps[i]!);
        if (i === resultAt) result = r;
      }
      return result;
    }
    const [fn, ...args] = steps[last]!;
    const asyncVariant = NATIVE_ASYNC[fn as OperationFn];
    // A stamped handle in the operation itself is resolved on libuv's thread at some later time:
    // a worker thread, which checks the epoch right before the call, makes it instead.
    if (setupInline && asyncVariant && !(epoch >= 0 && OBJECT_ARG[fn] !== undefined)) {
      for (const [setupFn, ...setupArgs] of steps.slice(0, last)) this.native[setupFn]!(...setupArgs);
      const running = this.native[asyncVariant]!(...args) as Promise<unknown>;
      return this.bounded(fn, running, () => {}, sessionOf(steps));
    }
    const job = this.threads.run(steps, copyBack, resultAt, this.orderOf(steps), epoch);
    const result = job.result.then(({ result, buffers }) => {
      if (copyBack && buffers) buffersOf(steps).forEach((original, i) => buffers[i]?.copy(original));
      return result;
    });
    return this.bounded(fn, result, job.abandon, sessionOf(steps));
  }

  /**
   * The epoch of the stamped handles the steps use (-1: none). A stale one is refused here
   * ({@link StaleHandleError}); nothing is sent.
   */
  private epochOf(steps: Step[]): number {
    let epoch = -1;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const at = OBJECT_ARG[step[0]];
      if (at === undefined) continue;
      // C_WrapKey takes two: the wrapping key, then the key wrapped.
      for (let a = at; a < (step[0] === 'C_WrapKey' ? at + 2 : at + 1); a++) {
        const stamped = this.stamps.get(step[a] as Handle);
        if (stamped === undefined) continue;
        if (stamped !== Atomics.load(this.epochCell, 0)) throw new StaleHandleError(step[0]);
        epoch = stamped;
      }
    }
    return epoch;
  }

  /** Where the job stands in its session's order (none for calls on a slot). */
  private orderOf(steps: Step[]): SessionOrder | undefined {
    const session = sessionOf(steps);
    if (session === undefined) return undefined;
    const fn = steps[0]![0];
    const key = keyOf(session);
    // A pooled session closed after its jobs were cancelled keeps that generation until its handle
    // is opened again: a holder's job made later still is skipped, not run on a closed handle.
    const generation = this.generations.get(key) ?? this.threads.cancelledGeneration(key) ?? 0;
    return { session: key, generation, fenced: this.fencedHandles.has(session) && !NEVER_FENCED.has(fn) };
  }

  /** The call's promise, or an {@link HsmTimeoutError} once `timeoutMs` have passed. */
  private bounded<T>(fn: string, running: Promise<T>, abandon: () => void, session: Handle | undefined): Promise<T> {
    return withDeadline(running, Date.now() + this.timeoutMs, () => {
      abandon();
      return new HsmTimeoutError(fn, this.timeoutMs, running.catch(() => undefined), session);
    });
  }
}

/** Makes one step's call on the event loop, without copying its arguments for the common arities. */
function callStep(native: Record<string, (...args: unknown[]) => unknown>, step: Step): unknown {
  const f = native[step[0]]!;
  switch (step.length) {
    case 2:
      return f.call(native, step[1]);
    case 3:
      return f.call(native, step[1], step[2]);
    case 4:
      return f.call(native, step[1], step[2], step[3]);
    case 5:
      return f.call(native, step[1], step[2], step[3], step[4]);
    default:
      return f.apply(native, step.slice(1));
  }
}

/** The session the steps run on (undefined for calls on a slot). */
function sessionOf(steps: Step[]): Handle | undefined {
  const [fn, session] = steps[0]!;
  return !SLOT_CALLS.has(fn) && session instanceof Uint8Array ? (session as Handle) : undefined;
}

/** A session handle's bytes, as a key. */
function keyOf(session: Handle): string {
  return (session as Buffer).toString('hex');
}
