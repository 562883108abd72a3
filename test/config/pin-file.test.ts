/**
 * Reading a PIN file (src/config/hsm.ts): what is not a PIN file is a ConfigError naming the file
 * and what to do, never a Node stack trace, a read of gigabytes into memory, or — after start-up,
 * when a re-login or a worker starting reads the file again — an open(2) that waits for ever on a
 * FIFO put in the regular file's place.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, MAX_PIN_FILE_BYTES, readPin, rereadPin } from '../../src/config/hsm.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-pin-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  return path;
}

/** The ConfigError `read` throws (failing the test should it throw anything else, or nothing). */
function configError(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('no error');
}

describe('a PIN file', () => {
  it('LF or CRLF at its end is not part of the PIN; a file of a newline alone is empty', () => {
    expect(readPin({ file: file('lf.pin', '1234\n') })).toBe('1234');
    expect(rereadPin({ file: file('crlf.pin', 'user:pass\r\n') })).toBe('user:pass');
    expect(configError(() => readPin({ file: file('nl.pin', '\r\n') }))).toMatch(/is empty/);
  });

  it('a symbolic link to a 0600 file is read; to a directory, a ConfigError that says so', () => {
    const target = file('target.pin', '5678');
    symlinkSync(target, join(dir, 'link.pin'));
    expect(rereadPin({ file: join(dir, 'link.pin') })).toBe('5678');
    mkdirSync(join(dir, 'a-dir'), { mode: 0o700 });
    symlinkSync(join(dir, 'a-dir'), join(dir, 'dir-link.pin'));
    for (const read of [readPin, rereadPin]) {
      expect(configError(() => read({ file: join(dir, 'a-dir') }))).toMatch(/a-dir is a directory/);
      expect(configError(() => read({ file: join(dir, 'dir-link.pin') }))).toMatch(/is a directory/);
    }
  });

  it('larger than a PIN file can be is refused before it is read (a sparse 3 GiB file, at once)', () => {
    const huge = file('huge.pin', '');
    truncateSync(huge, 3 * 2 ** 30);
    const big = file('big.pin', 'x'.repeat(MAX_PIN_FILE_BYTES + 1));
    for (const read of [readPin, rereadPin]) {
      const started = Date.now();
      expect(configError(() => read({ file: huge }))).toMatch(/huge\.pin holds more than 4096 bytes: it is not a PIN file/);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(configError(() => read({ file: big }))).toMatch(/more than 4096 bytes/);
    }
    expect(readPin({ file: file('max.pin', 'y'.repeat(MAX_PIN_FILE_BYTES)) })).toHaveLength(MAX_PIN_FILE_BYTES);
  });

  it('read again after start-up, a FIFO in its place is refused at once, not waited for', () => {
    const fifo = join(dir, 'fifo.pin');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // No writer: a blocking open(2) would wait for ever, and with it the test (and the process).
    expect(configError(() => rereadPin({ file: fifo }))).toMatch(/fifo\.pin is no longer a regular file .*rename it over/);
  });

  it('still readable by others is refused, checked on what was opened', () => {
    expect(configError(() => rereadPin({ file: file('open.pin', '1234', 0o644) }))).toMatch(/readable by other users; run: chmod 600/);
  });
});
