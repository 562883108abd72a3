/**
 * `hsmkms ca …`: a private two-tier CA whose keys are KMS keys in the HSM. By default the CA
 * signs through the KMS API of the data directory in-process (the server's own HTTP path via
 * inject(), no port opened); with `--kms-endpoint` it talks to any KMS endpoint — a running
 * hsmkms, or AWS KMS — with AWS credentials from the environment, and keeps its records in the
 * data directory's store.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import {
  CA_KEY_SPECS,
  CERTIFICATE_PROFILES,
  CaError,
  DEFAULT_CA_KEY_SPEC,
  MAX_CSR_BYTES,
  REVOCATION_REASONS,
  createCaDeps,
  createKmsClient,
  freshCrlPem,
  initCa,
  issueCertificate,
  listCertificates,
  revokeCertificate,
  sdkCaKms,
  type CaDeps,
  type CaKeySpec,
  type CertificateProfileName,
  type RevocationReason,
} from '../ca/index.js';
import { ConfigError } from '../config/hsm.js';
import { addStoreOptions, storeConfigFrom, type StoreCliOptions } from './store-options.js';
import { addAuditOptions, auditConfigFrom, type AuditCliOptions } from './audit-options.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { rootCredentialsFromEnv } from './serve.js';
import { addServiceOptions, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';
import { jsonLine } from './output.js';

interface CaCliOptions extends Omit<HsmCliOptions, 'profile'>, ServiceCliOptions, AuditCliOptions, StoreCliOptions {
  name: string;
  kmsEndpoint?: string;
  /** The HSM vendor profile: `--profile` is the certificate profile here. */
  hsmProfile?: HsmCliOptions['profile'];
}

/** Options every `ca` subcommand shares. */
function caOptions(command: Command): Command {
  command
    .requiredOption('--name <name>', 'CA name (letters, digits, . _ -)')
    .addOption(
      new Option('--kms-endpoint <url>', 'sign through this KMS endpoint (AWS credentials from the environment) instead of in-process').env(
        'HSMKMS_CA_KMS_ENDPOINT',
      ),
    );
  // In-process, the CA's KMS calls are audited like any others: into the server's trail, as
  // nodes <host>-ca0… (chains of their own, so they can run beside a serve on the same data directory).
  return addStoreOptions(addAuditOptions(addServiceOptions(addHsmOptions(command, { vendorProfileFlag: '--hsm-profile' }))));
}

/** Runs `fn` with CA dependencies for the options, and closes everything afterwards. */
async function withCa<T>(options: CaCliOptions, fn: (deps: CaDeps) => Promise<T>): Promise<T> {
  const settings = settingsFrom(options);
  const storeConfig = storeConfigFrom(options);
  const dataDir = resolve(options.dataDir);
  if (options.kmsEndpoint) {
    let endpoint: URL;
    try {
      endpoint = new URL(options.kmsEndpoint);
    } catch {
      throw new ConfigError(`--kms-endpoint '${options.kmsEndpoint}' is not a URL.`);
    }
    const [{ openStore }, { quietLogger }] = await Promise.all([import('../store/open-store.js'), import('../app.js')]);
    const store = await openStore(storeConfig, { dataDir, logger: quietLogger() });
    const client = createKmsClient({ region: settings.region, endpoint: endpoint.toString().replace(/\/$/, '') });
    try {
      return await fn(createCaDeps(sdkCaKms(client), store.caStore));
    } finally {
      client.destroy();
      await store.close();
    }
  }
  const hsm = await resolveHsmConfig({ ...options, profile: options.hsmProfile }, progress);
  // The server graph loads only now, not for --help (see main.ts).
  const [{ createApp }, { default: pino }] = await Promise.all([import('../app.js'), import('pino')]);
  const app = await createApp({
    dataDir,
    hsm,
    store: storeConfig,
    settings,
    rootCredentials: rootCredentialsFromEnv(),
    logLevel: 'warn',
    logDestination: pino.destination(2) as unknown as NodeJS.WritableStream,
    schedulerIntervalMs: 0,
    audit: auditConfigFrom(options, 'ca'),
  });
  try {
    return await fn(app.ca);
  } finally {
    await app.close();
  }
}

/** CaError messages are meant for people: one line, no trace, non-zero exit. */
function forPeople<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      if (error instanceof CaError) throw new ConfigError(error.message);
      throw error;
    }
  };
}

function parseDays(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value)) throw new ConfigError(`${option} must be a whole number of days, got '${value}'.`);
  return Number(value);
}

/** The CSR file (or `-` for standard input), refusing anything over the CSR size limit before reading it all. */
function readCsrFile(file: string): Buffer {
  const tooBig = (size: number) => new ConfigError(`The CSR is ${size} bytes or more; the limit is ${MAX_CSR_BYTES}.`);
  if (file === '-') {
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.alloc(16384);
    for (;;) {
      let n: number;
      try {
        n = readSync(0, chunk, 0, chunk.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((error as NodeJS.ErrnoException).code === 'EOF') break;
        throw error;
      }
      if (n === 0) break;
      total += n;
      if (total > MAX_CSR_BYTES) throw tooBig(total);
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
    return Buffer.concat(chunks);
  }
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new ConfigError(`Cannot read the CSR file ${file}.`);
  }
  if (size > MAX_CSR_BYTES) throw tooBig(size);
  const fd = openSync(file, 'r');
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function caCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const ca = new Command('ca');

  const init = caOptions(
    new Command('init')
      .description('Create a CA: root and issuing intermediate keys (KMS SIGN_VERIFY), their certificates, an OCSP responder. Prints the root certificate (PEM).')
      .requiredOption('--subject <dn>', 'root subject, e.g. "CN=Example Root CA,O=Example,C=US"')
      .option('--intermediate-subject <dn>', "intermediate subject (default: the root's, CN + ' Issuing CA')")
      .addOption(new Option('--key-spec <spec>', 'key type of both CA keys').choices([...CA_KEY_SPECS]).default(DEFAULT_CA_KEY_SPEC))
      .option('--days <n>', 'root validity in days', '3650')
      .option('--intermediate-days <n>', "intermediate validity in days (default: half the root's)")
      .addOption(
        new Option('--base-url <url>', 'http:// prefix of the CRL, CA certificate and OCSP URLs written into certificates (where `hsmkms serve` answers)')
          .env('HSMKMS_CA_BASE_URL')
          .default(`http://127.0.0.1:${process.env.HSMKMS_PORT ?? '7600'}`),
      ),
  );
  init.action(
    forPeople(async (options: CaCliOptions & { subject: string; intermediateSubject?: string; keySpec: CaKeySpec; days: string; intermediateDays?: string; baseUrl: string }) => {
      await withCa(options, async (deps) => {
        const created = await initCa(deps, {
          name: options.name,
          subject: options.subject,
          intermediateSubject: options.intermediateSubject,
          keySpec: options.keySpec,
          days: parseDays(options.days, '--days'),
          intermediateDays: parseDays(options.intermediateDays, '--intermediate-days'),
          baseUrl: options.baseUrl,
        });
        progress(`CA '${created.authority.name}' created (${created.authority.keySpec}); root key ${created.authority.rootKeyId}, issuing key ${created.authority.intermediateKeyId}`);
        progress(`published under ${created.authority.baseUrl}/ca/${created.authority.name}/ by \`hsmkms serve\``);
        process.stdout.write(created.rootPem.endsWith('\n') ? created.rootPem : `${created.rootPem}\n`);
      });
    }),
  );

  const issue = caOptions(
    new Command('issue')
      .description('Sign a CSR with the issuing intermediate. Prints the certificate, then the intermediate (PEM).')
      .requiredOption('--csr <file>', 'the certificate signing request, PEM or DER (- for standard input)')
      .addOption(new Option('--profile <profile>', 'what the certificate is for').choices([...CERTIFICATE_PROFILES]).default('tls-server'))
      .option('--days <n>', 'validity in days (default per profile: 90 for TLS, 365 for code signing)'),
  );
  issue.action(
    forPeople(async (options: CaCliOptions & { csr: string; profile: CertificateProfileName; days?: string }) => {
      const csr = readCsrFile(options.csr);
      await withCa(options, async (deps) => {
        const issued = await issueCertificate(deps, { caName: options.name, csr, profile: options.profile, days: parseDays(options.days, '--days') });
        progress(`issued ${issued.record.kind} certificate serial ${issued.record.serial} for ${issued.record.subject || '(empty subject)'}, valid until ${issued.record.notAfter.toISOString()}`);
        process.stdout.write(issued.chainPem);
      });
    }),
  );

  const list = caOptions(new Command('list').description('List the certificates a CA issued as JSON lines (serial, subject, notAfter, status, …).'));
  list.action(
    forPeople(async (options: CaCliOptions) => {
      await withCa(options, async (deps) => {
        let marker: string | undefined;
        do {
          const page = await listCertificates(deps, { caName: options.name, limit: 500, marker });
          for (const certificate of page.certificates) process.stdout.write(jsonLine(certificate));
          marker = page.nextMarker;
        } while (marker);
      });
    }),
  );

  const revoke = caOptions(
    new Command('revoke')
      .description('Revoke a certificate by serial (hex, as `ca list` prints it); the CRL is signed again at once.')
      .argument('<serial>', 'serial number in hex (colons allowed)')
      .addOption(new Option('--reason <reason>', 'RFC 5280 revocation reason').choices([...REVOCATION_REASONS]).default('unspecified')),
  );
  revoke.action(
    forPeople(async (serial: string, options: CaCliOptions & { reason: RevocationReason }) => {
      await withCa(options, async (deps) => {
        const { record, crlError } = await revokeCertificate(deps, { caName: options.name, serial, reason: options.reason });
        progress(`revoked ${record.serial} (${record.subject}) on ${record.revokedAt?.toISOString()}: ${record.revocationReason}`);
        if (crlError) progress(`warning: the CRL could not be signed again now (${crlError}); it will be on the next CRL served`);
        process.stdout.write(`${JSON.stringify({ serial: record.serial, revokedAt: record.revokedAt?.toISOString(), reason: record.revocationReason })}\n`);
      });
    }),
  );

  const crl = caOptions(
    new Command('crl')
      .description("Sign and print a fresh CRL (PEM) with a new CRL number: the intermediate's, which lists revoked leaves.")
      .option('--root', "the root's CRL instead, which lists a revoked intermediate"),
  );
  crl.action(
    forPeople(async (options: CaCliOptions & { root?: boolean }) => {
      await withCa(options, async (deps) => {
        const pem = await freshCrlPem(deps, options.name, options.root ? 'root' : 'intermediate');
        process.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
      });
    }),
  );

  return ca.addCommand(init).addCommand(issue).addCommand(list).addCommand(revoke).addCommand(crl);
}
