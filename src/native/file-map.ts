/**
 * The metadata store's shared-memory port (store/sqlite/wal-index.ts) on the native addon: lets
 * the SQLite store read SQLite's WAL-index header without a system call.
 */
import type { SharedFileMapper } from '../store/sqlite/wal-index.js';
import { optionalAddon } from './addon.js';

/** The addon's mapper, or undefined when the addon is not built (the store then checks with SQL). */
export function nativeFileMapper(): SharedFileMapper | undefined {
  const addon = optionalAddon();
  // Not built, or built before mapFdReadOnly existed.
  if (!addon || typeof addon.mapFdReadOnly !== 'function') return undefined;
  return { mapFd: (fd, length) => addon.mapFdReadOnly(fd, length) };
}
