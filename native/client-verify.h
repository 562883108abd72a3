// Client certificates for mutual TLS, checked inside Node's OpenSSL so that a bad certificate
// ends the handshake with a handshake_failure alert (what AWS's XKS test client looks for): Node
// itself accepts any certificate during the handshake and only drops the connection afterwards.
#pragma once

#include <string>

namespace hsmkms {

/**
 * Until DisarmClientVerify, every SSL_CTX created on this thread gets a certificate verifier
 * that requires a chain to the context's trusted CAs and `subject` as the leaf's DNS name or CN.
 * A client that presents no certificate still completes the handshake (the application decides).
 */
void ArmClientVerify(const std::string& subject);

/** Stops hooking new contexts; returns how many were hooked since ArmClientVerify. */
int DisarmClientVerify();

}  // namespace hsmkms
