/**
 * The log lines of a TLS server whose keys are in the HSM, for `hsmkms serve --tls-*` and
 * `hsmkms tls proxy` alike. A handshake the HSM could not sign (its login refused, the token
 * gone, no answer in time) is the server's problem: logged with the addon's message (a CKR code,
 * never the PIN). A client's protocol error (garbage, no shared cipher, a handshake never
 * finished) is the client's: logged at debug level only. Any client can open connections, so
 * each distinct line is logged at first, then once a minute with the count held back
 * (RepeatedLines); the first handshake signed again after HSM failures says so at once.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../core/ports.js';
import { RepeatedLines } from '../observability/repeated-lines.js';
import { hsmHandshakeFailure } from './errors.js';

/** Longest client error message logged: OpenSSL's are short; this bounds what a line carries. */
const MAX_DETAIL = 200;

export function logHandshakeFailures(server: EventEmitter, logger: Logger): void {
  const failures = new RepeatedLines();
  const clients = new RepeatedLines();
  server.on('tlsClientError', (error: Error & { code?: unknown }) => {
    const failure = hsmHandshakeFailure(error);
    if (!failure) {
      const code = typeof error.code === 'string' ? error.code.slice(0, 64) : 'unknown';
      const admitted = clients.admit(code);
      if (admitted) logger.debug({ code, detail: error.message.slice(0, MAX_DETAIL), ...admitted }, 'TLS handshake failed on the client side');
      return;
    }
    // While a signature the HSM did not answer in time is outstanding, every handshake fails at once, as fast as clients come.
    const admitted = failures.admit(`${failure} ${error.message}`);
    if (!admitted) return;
    const what = failure === 'timeout' ? 'TLS handshake failed: the HSM did not answer in time' : 'TLS handshake failed: the HSM did not sign';
    logger.warn({ detail: error.message, ...admitted }, what);
  });
  server.on('secureConnection', () => {
    if (failures.active) logger.info({ suppressed: failures.reset() }, 'TLS handshakes are signed by the HSM again');
  });
}
