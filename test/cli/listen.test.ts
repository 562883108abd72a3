/** The listener option parsers `serve` and `tls proxy` share. */
import { describe, expect, it } from 'vitest';
import { parseListen, parseSeconds } from '../../src/cli/listen.js';
import { ConfigError } from '../../src/config/hsm.js';

describe('parseListen', () => {
  it('reads HOST:PORT, [v6]:PORT and :PORT, and names the option in its error', () => {
    expect(parseListen('--metrics-listen', '127.0.0.1:9600')).toEqual({ host: '127.0.0.1', port: 9600 });
    expect(parseListen('--metrics-listen', '[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen('--listen', ':443')).toEqual({ host: '0.0.0.0', port: 443 });
    for (const bad of ['nowhere', '127.0.0.1', '127.0.0.1:65536', 'a:b'])
      expect(() => parseListen('--metrics-listen', bad)).toThrowError(new ConfigError(`--metrics-listen must be HOST:PORT (e.g. 127.0.0.1:8443), got "${bad}".`));
  });
});

describe('parseSeconds', () => {
  it('takes positive seconds, fractions included, as whole milliseconds', () => {
    expect(parseSeconds('--idle-timeout', '60')).toBe(60_000);
    expect(parseSeconds('--idle-timeout', '0.25')).toBe(250);
    expect(parseSeconds('--idle-timeout', '0.0001')).toBe(1);
    for (const bad of ['-1', '0', '', 'abc', 'Infinity', '86401'])
      expect(() => parseSeconds('--idle-timeout', bad), bad).toThrowError(/--idle-timeout must be a number of seconds/);
  });
});
