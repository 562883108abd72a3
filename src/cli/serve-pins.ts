/**
 * The PINs `hsmkms serve` holds: the default token's (`--pin-file`, `--pin-env`, `--hsm …?pin-source=`)
 * and that of the cluster holding the XKS proxy's keys (`--cluster ID=pkcs11:…?pin-source=…`);
 * `hsmkms tls proxy` holds its token's the same way (a single process: src/tls/hsm-token.ts followPin).
 * Each source is read once at start, by the primary or the single process: a one-shot source (a
 * FIFO, `--pin-file <(cmd)`) could not be read again by a worker started later, and a variable is
 * unset so that workers do not inherit it (/proc/<pid>/environ). Workers get the PINs from their
 * primary over the IPC channel, never argv or environment.
 *
 * A regular file is read again whenever a PIN is asked for after that — a worker starting, a
 * re-login — so that a password rotated in the file (CloudHSM: the Crypto User's, changed with
 * the CloudHSM CLI while the server runs) is used from the next login on, rather than the old one
 * until a restart, each attempt of which the HSM counts towards locking the user out. Other
 * sources keep the value read at start.
 */
import cluster, { type Worker } from 'node:cluster';
import { statSync } from 'node:fs';
import { ConfigError, readPin, rereadPin, type PinSource } from '../config/hsm.js';

/** The name of the default token's PIN (cluster ids, the other names, are 1–32 characters). */
export const DEFAULT_TOKEN_PIN = '';

/** The IPC messages: a worker asks for a PIN by name (PIN_REQUEST), its primary answers (PIN). */
const PIN_REQUEST = 'pin?';
const PIN = 'pin';

/** How long a worker waits for its primary's answer (an event-loop turn or a file read). */
const ANSWER_MS = 10_000;

const what = (name: string) => (name === DEFAULT_TOKEN_PIN ? 'the token' : `cluster ${name}`);

/** The PINs read by the primary or the single process; see the module's comment. */
class HeldPins {
  private readonly held = new Map<string, { source: PinSource; value: string; rereadable: boolean }>();

  constructor(sources: ReadonlyMap<string, PinSource>) {
    for (const [name, source] of sources)
      this.held.set(name, { source, value: readPin(source), rereadable: 'file' in source && isRegularFile(source.file) });
    // Once all are read: two names may share a variable.
    for (const source of sources.values()) if ('env' in source) delete process.env[source.env];
  }

  /** The PIN as at start, for the first login. */
  initial(name: string): string {
    return this.entry(name).value;
  }

  /**
   * The PIN now: a regular file is read again (a ConfigError should it no longer do as a PIN file,
   * never a wait: this runs on the primary's event loop, which also hands connections to workers).
   */
  current(name: string): string {
    const pin = this.entry(name);
    if (pin.rereadable) pin.value = rereadPin(pin.source);
    return pin.value;
  }

  /** Answers a worker's PIN_REQUEST; false for any other message. */
  answer(worker: Worker, message: { hsmkms?: string; name?: unknown }): boolean {
    if (message?.hsmkms !== PIN_REQUEST) return false;
    const name = typeof message.name === 'string' ? message.name : DEFAULT_TOKEN_PIN;
    let answer: { hsmkms: string; name: string; pin?: string; error?: string };
    try {
      answer = { hsmkms: PIN, name, pin: this.current(name) };
    } catch (error) {
      answer = { hsmkms: PIN, name, error: error instanceof ConfigError ? error.message : `The PIN of ${what(name)} could not be read.` };
    }
    if (worker.isConnected()) worker.send(answer);
    return true;
  }

  private entry(name: string) {
    const pin = this.held.get(name);
    if (!pin) throw new ConfigError(`No PIN source is configured for ${what(name)}.`);
    return pin;
  }
}

function isRegularFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The PINs of `sources` as held sources (`value`, and `reread` for a re-login), by name; and, in a
 * primary or single process, what answers workers. In a worker the sources are not read: the
 * primary is asked.
 */
export async function holdPins(sources: ReadonlyMap<string, PinSource>): Promise<{ pins: Map<string, PinSource>; primary?: HeldPins }> {
  const pins = new Map<string, PinSource>();
  if (cluster.isWorker) {
    for (const name of sources.keys()) pins.set(name, { value: await askPrimary(name), reread: () => askPrimary(name) });
    return { pins };
  }
  const held = new HeldPins(sources);
  for (const name of sources.keys()) pins.set(name, { value: held.initial(name), reread: async () => held.current(name) });
  return { pins, primary: held };
}

export type { HeldPins };

/** In a worker: the PIN `name` from its primary, which reads the source (see {@link HeldPins.answer}). */
function askPrimary(name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    const timer = setTimeout(() => {
      done();
      reject(new ConfigError(`The primary did not hand over the PIN of ${what(name)} within ${ANSWER_MS / 1000} s.`));
    }, ANSWER_MS);
    const onMessage = (message: { hsmkms?: string; name?: string; pin?: unknown; error?: unknown }) => {
      if (message?.hsmkms !== PIN || message.name !== name) return;
      done();
      if (typeof message.pin === 'string') resolve(message.pin);
      else reject(new ConfigError(typeof message.error === 'string' ? message.error : `No PIN for ${what(name)}.`));
    };
    process.on('message', onMessage);
    process.send?.({ hsmkms: PIN_REQUEST, name });
  });
}
