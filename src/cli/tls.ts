/** `hsmkms tls …`: TLS whose private keys stay in the HSM — key generation and a reverse proxy. */
import { Command, Option } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../config/hsm.js';
import {
  DEFAULT_PROXY_TIMEOUTS,
  HsmTlsError,
  TLS_KEY_SPECS,
  createTlsCsr,
  createTlsProxy,
  followPin,
  generateTlsKey,
  resolveProxyTimeouts,
  type ProxyTimeouts,
  type TlsKeySpec,
} from '../tls/index.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { parseListen, parseSeconds } from './listen.js';
import { DEFAULT_TOKEN_PIN, holdPins } from './serve-pins.js';
import type { Logger } from '../core/ports.js';
import { logLevelOption, progress } from './service-options.js';

interface KeygenOptions extends HsmCliOptions {
  label: string;
  spec: TlsKeySpec;
  subject: string;
  san: string[];
  csr: string;
}

interface ProxyOptions extends HsmCliOptions {
  keyUri: string[];
  cert: string[];
  listen: string;
  upstream: string;
  handshakeTimeout: string;
  headersTimeout: string;
  requestTimeout: string;
  idleTimeout: string;
  keepAliveTimeout: string;
  upstreamTimeout: string;
  logLevel: string;
}

const seconds = (ms: number): string => String(ms / 1000);

/** The proxy's timeouts from the command line; a bad value is a configuration error. */
function proxyTimeoutsFrom(options: ProxyOptions): ProxyTimeouts {
  const given = {
    handshakeMs: parseSeconds('--handshake-timeout', options.handshakeTimeout),
    headersMs: parseSeconds('--headers-timeout', options.headersTimeout),
    requestMs: parseSeconds('--request-timeout', options.requestTimeout),
    idleMs: parseSeconds('--idle-timeout', options.idleTimeout),
    keepAliveMs: parseSeconds('--keep-alive-timeout', options.keepAliveTimeout),
    upstreamMs: parseSeconds('--upstream-timeout', options.upstreamTimeout),
  };
  try {
    return resolveProxyTimeouts(given);
  } catch (error) {
    throw new ConfigError(`Check the timeouts: ${(error as Error).message}.`);
  }
}

function timeoutOption(flag: string, env: string, what: string, ms: number): Option {
  return new Option(`${flag} <seconds>`, what).env(env).default(seconds(ms));
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The `tls` command group; main.ts adds it to the program. */
export function tlsCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const tls = new Command('tls');

  const keygen = addHsmOptions(
    new Command('keygen')
      .description('Generate a TLS key pair inside the token (sensitive, never extractable) and write a CSR signed by it.')
      .requiredOption('--label <name>', 'label of the new key (CKA_LABEL)')
      .addOption(new Option('--spec <spec>', 'key type').choices([...TLS_KEY_SPECS]).makeOptionMandatory())
      .requiredOption('--subject <dn>', 'subject of the CSR, e.g. "CN=www.example.com, O=Example"')
      .option('--san <name>', 'subjectAltName, e.g. DNS:www.example.com or IP:192.0.2.1 (repeatable)', collect, [])
      .requiredOption('--csr <file>', 'where to write the CSR (PEM)'),
  );
  keygen.action(
    asConfigErrors(async (options: KeygenOptions) => {
      const hsm = await resolveHsmConfig(options, progress);
      const key = generateTlsKey(hsm, options.label, options.spec);
      const csr = await createTlsCsr(hsm, key.keyUri, { subject: options.subject, san: options.san });
      writeFileSync(options.csr, csr);
      progress(`key generated in the token; CSR written to ${options.csr}`);
      process.stdout.write(`${key.keyUri}\n`);
    }),
  );

  const proxy = addHsmOptions(
    new Command('proxy')
      .description(
        'Terminate TLS with HSM keys and forward HTTP/1.1 to a plain-HTTP upstream (keep-alive, streamed bodies, X-Forwarded-For/-Proto/-Host). ' +
          'Give --key-uri and --cert once per certificate; with several, SNI picks the certificate that matches the host name.',
      )
      .requiredOption('--key-uri <uri>', "pkcs11: URI of the private key, e.g. 'pkcs11:object=web;type=private' (repeatable)", collect)
      .requiredOption('--cert <file>', 'certificate chain (PEM, leaf first) for the key at the same position (repeatable)', collect)
      .requiredOption('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:443')
      .requiredOption('--upstream <url>', 'where to forward, e.g. http://127.0.0.1:8080')
      .addOption(timeoutOption('--handshake-timeout', 'HSMKMS_PROXY_HANDSHAKE_TIMEOUT', 'close a connection whose TLS handshake has not finished by then', DEFAULT_PROXY_TIMEOUTS.handshakeMs))
      .addOption(timeoutOption('--headers-timeout', 'HSMKMS_PROXY_HEADERS_TIMEOUT', 'answer 408 and close when the request headers have not arrived by then', DEFAULT_PROXY_TIMEOUTS.headersMs))
      .addOption(timeoutOption('--request-timeout', 'HSMKMS_PROXY_REQUEST_TIMEOUT', 'answer 408 and close when the whole request (headers and body) has not arrived by then', DEFAULT_PROXY_TIMEOUTS.requestMs))
      .addOption(timeoutOption('--idle-timeout', 'HSMKMS_PROXY_IDLE_TIMEOUT', 'close a connection on which nothing was sent or received for this long', DEFAULT_PROXY_TIMEOUTS.idleMs))
      .addOption(timeoutOption('--keep-alive-timeout', 'HSMKMS_PROXY_KEEP_ALIVE_TIMEOUT', 'close an idle keep-alive connection between requests after this long', DEFAULT_PROXY_TIMEOUTS.keepAliveMs))
      .addOption(timeoutOption('--upstream-timeout', 'HSMKMS_PROXY_UPSTREAM_TIMEOUT', 'answer 504 when the upstream sends nothing for this long', DEFAULT_PROXY_TIMEOUTS.upstreamMs))
      .addOption(logLevelOption()),
  );
  proxy.action(
    asConfigErrors(async (options: ProxyOptions) => {
      if (options.keyUri.length !== options.cert.length)
        throw new ConfigError(`Give one --cert per --key-uri (got ${options.keyUri.length} keys and ${options.cert.length} certificates).`);
      const { host, port } = parseListen('--listen', options.listen);
      const timeouts = proxyTimeoutsFrom(options);
      const resolved = await resolveHsmConfig(options, progress);
      // Held as `serve` holds it (serve-pins.ts): a PIN in a regular file is read again, so that a
      // password rotated in the file is used at the next login without a restart (followPin).
      const { pins } = await holdPins(new Map([[DEFAULT_TOKEN_PIN, resolved.pin]]));
      const hsm = { ...resolved, pin: pins.get(DEFAULT_TOKEN_PIN)! };
      const certificates = options.keyUri.map((keyUri, i) => ({ keyUri, cert: readCertificate(options.cert[i]!) }));
      // JSON lines on stdout, as `serve` writes them: handshakes the HSM could not sign, upstream failures.
      // Loaded here: `--help` loads no logging (test/cli/lazy-loading.test.ts).
      const { createLogger } = await import('../observability/logger.js');
      const logger = createLogger({ level: options.logLevel }).child({ component: 'tls-proxy' }) as unknown as Logger;
      const proxy = createTlsProxy({ hsm, certificates, upstream: options.upstream, timeouts, logger });
      const server = proxy.server;
      const stopFollowing = followPin(hsm, server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      const address = server.address();
      const shown = typeof address === 'object' && address ? `${address.address}:${address.port}` : options.listen;
      progress(`TLS proxy listening on ${shown}, forwarding to ${options.upstream}`);
      logger.info({ listen: shown, upstream: options.upstream }, 'TLS proxy listening');
      const stop = (): void => {
        progress('stopping');
        stopFollowing();
        proxy.close();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }),
  );

  return tls.addCommand(keygen).addCommand(proxy);
}

/** HsmTlsError messages are meant for people: report them as configuration errors, without a trace. */
function asConfigErrors<T>(action: (options: T) => Promise<void>): (options: T) => Promise<void> {
  return async (options) => {
    try {
      await action(options);
    } catch (error) {
      if (error instanceof HsmTlsError) throw new ConfigError(error.message);
      throw error;
    }
  };
}

function readCertificate(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new ConfigError(`Cannot read the certificate file ${file}.`);
  }
}
