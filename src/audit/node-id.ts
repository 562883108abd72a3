/**
 * What a "node" of the audit trail is: one writing process. With `serve --workers N` each worker
 * writes its own chain, because a chain is a total order and sharing one across processes would
 * put a cross-process lock (or an IPC hop to one writer) on every request's path, and make one
 * process's crash stall the others. Its id is the host name plus the worker index, so a restarted
 * worker continues its own chain.
 */
import { hostname } from 'node:os';
import type { AuditSigner } from '../core/ports.js';
import { NODE_ID_PATTERN } from './audit-record.js';

/**
 * `<host>-w<index>` for a serve worker, `<host>-<suffix>` for another writing process (`ca0`…:
 * the in-process KMS of `hsmkms ca`, which may run beside `serve` on the same data directory),
 * with characters a file name may not hold replaced.
 */
export function defaultAuditNodeId(process: number | string = 0, host = hostname()): string {
  const base = host.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 56) || 'node';
  const suffix = typeof process === 'number' ? `w${process}` : process;
  const id = `${base}-${suffix}`;
  return NODE_ID_PATTERN.test(id) ? id : `node-${suffix}`;
}

/** The backend's digest-signing capability, if it has one (detected at run time). */
export function auditSignerOf(backend: object): AuditSigner | undefined {
  const candidate = backend as Partial<AuditSigner>;
  return typeof candidate.auditPublicKey === 'function' && typeof candidate.signAuditDigest === 'function'
    ? (candidate as AuditSigner)
    : undefined;
}
