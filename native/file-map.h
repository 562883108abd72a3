// A read-only shared mapping of the start of a file already open in this process, for the
// metadata store's view of SQLite's WAL-index header (src/store/sqlite/wal-index.ts). Nothing to
// do with PKCS#11 or TLS: it lives in this addon so that hsmkms builds one native module.
#pragma once

#include <napi.h>

namespace hsmkms {

/**
 * mapFdReadOnly(fd, length) → { buffer, dev, ino }: the first `length` bytes of the file open
 * as `fd` mapped PROT_READ, MAP_SHARED (writes by any process show through at once), as an
 * ArrayBuffer that unmaps itself when collected; `dev`/`ino` (BigInt) identify the file mapped.
 * The descriptor is neither opened nor closed here: closing any descriptor of a file drops every
 * POSIX lock the process holds on it, SQLite's included. Throws an HsmError (code ERR_FILE_MAP;
 * addon.cc's Guard makes it the JS error) if `fd` is not a regular file of at least `length`
 * bytes or cannot be mapped.
 */
Napi::Value MapFdReadOnly(const Napi::CallbackInfo& info);

}  // namespace hsmkms
