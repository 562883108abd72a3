/**
 * Drives the PKCS#11 interposer (test/pkcs11-interposer) of the `cloudhsm` test project from a
 * test file: a control file of its own, rewritten atomically, which the interposer re-reads on
 * its next call. Call {@link interposerControl} before anything in the file loads the module.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface InterposerControl {
  /** Replaces every control setting (the environment's stay); counters start again from zero. */
  set(settings: string[]): void;
  /** Appends the names of calls made on the main thread to a file from now on; returns a reader. */
  logMainThreadCalls(): () => string[];
  dispose(): void;
}

export function interposerControl(): InterposerControl {
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-interposer-'));
  const file = join(dir, 'control');
  let current: string[] = [];
  let serial = 0;
  const write = (lines: string[]) => {
    const partial = `${file}.${serial++}`;
    // A comment that changes every time, so a rewrite with the same settings is still a change.
    writeFileSync(partial, [`# ${serial} ${process.hrtime.bigint()}`, ...lines, ''].join('\n'));
    renameSync(partial, file);
  };
  write([]);
  process.env.HSMKMS_INTERPOSER_CONTROL = file;
  return {
    set(settings) {
      current = settings;
      write(settings);
    },
    logMainThreadCalls() {
      const log = join(dir, `main-thread-${serial}.log`);
      current = [...current.filter((l) => !l.startsWith('main_thread_log=')), `main_thread_log=${log}`];
      write(current);
      return () => {
        try {
          return readFileSync(log, 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      };
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `hsmkms` options naming the run's token through the interposer, for a test that spawns the
 * binary from any project: pass {@link INTERPOSED_ENV} too. It forwards every call unchanged until
 * the control file (see {@link interposerControl}, inherited through the environment) says otherwise.
 */
export function interposedTokenArgs(pinFile = process.env.HSMKMS_TEST_PIN_FILE): string[] {
  const { HSMKMS_TEST_INTERPOSER, HSMKMS_TEST_TOKEN } = process.env;
  if (!HSMKMS_TEST_INTERPOSER || !HSMKMS_TEST_TOKEN || !pinFile) throw new Error('test/global-setup.ts did not run');
  return ['--module', HSMKMS_TEST_INTERPOSER, '--token-label', HSMKMS_TEST_TOKEN, '--pin-file', pinFile, '--profile', 'softhsm2'];
}

/** The environment {@link interposedTokenArgs} needs: the real module behind the interposer. */
export const INTERPOSED_ENV = { HSMKMS_INTERPOSER_MODULE: '/usr/lib/softhsm/libsofthsm2.so' };
