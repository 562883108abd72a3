// An ECDSA signature check (P-256, P-384) done wholly on libuv's thread pool, key import
// included, for the CA's check of a certificate request's self-signature
// (src/native/ecdsa-verify.ts). Nothing to do with PKCS#11 or TLS: it lives in this addon so that
// hsmkms builds one native module. node:crypto cannot do this off the event loop: it imports a
// key (createPublicKey, or the key given to crypto.verify) on the calling thread, and its import
// of EC coordinates checks the point with a full scalar multiplication by the group order — as
// much CPU as the signature check itself, on the thread that limits a one-worker server.
#pragma once

#include <napi.h>

namespace hsmkms {

/**
 * verifyEcdsa(curve, point, hash, data, signature, callback): checks that `signature` (ECDSA,
 * DER, strict as OpenSSL's ECDSA_verify requires) is a signature over `hash(data)` by the key
 * `point` (an uncompressed point, 0x04 ‖ X ‖ Y, on curve 'P-256' or 'P-384'; hash one of 'sha1',
 * 'sha256', 'sha384', 'sha512'). The buffers are copied; the work runs on the thread pool and
 * `callback(null, verdict)` is called on the JS thread: 0 the signature verifies, 1 it does not
 * (or is not strict DER), 2 the point is not on the curve. Bad arguments (an unknown curve or hash, a
 * point of the wrong length or form, inputs over 64 KiB) throw an HsmError (code ERR_ECDSA_VERIFY)
 * synchronously. The point is accepted when it is on the curve and not the point at infinity:
 * both curves have cofactor 1, so every such point generates the whole group and the order
 * multiplication that node:crypto adds proves nothing more.
 */
Napi::Value VerifyEcdsa(const Napi::CallbackInfo& info);

}  // namespace hsmkms
