// Return codes, by what they say about the session they came from. The same classification as
// the TypeScript backend's (src/backend/pkcs11/errors.ts, CKR_CLASSES `gone`, `fatal` and
// `ambiguous`); test/native/session-codes.test.ts checks that these lists and that table agree.
#pragma once

// The session is closed already: the module says so, or the token went and its sessions with it.
// Reconnect, and never close it: an HSM that reuses session numbers may already have given its
// number to a new session of another part of this process (the KMS backend's session pool).
#define HSMKMS_SESSION_GONE_CODES(X) \
  X(CKR_SESSION_HANDLE_INVALID)      \
  X(CKR_SESSION_CLOSED)              \
  X(CKR_DEVICE_REMOVED)              \
  X(CKR_TOKEN_NOT_PRESENT)

// Its login, an object handle or the device is gone (or the session, unclosed): reconnect.
#define HSMKMS_SESSION_FATAL_CODES(X)   \
  X(CKR_USER_NOT_LOGGED_IN)             \
  X(CKR_OBJECT_HANDLE_INVALID)          \
  X(CKR_KEY_HANDLE_INVALID)             \
  X(CKR_OPERATION_ACTIVE)               \
  X(CKR_OPERATION_NOT_INITIALIZED)      \
  X(CKR_DEVICE_ERROR)                   \
  X(CKR_DEVICE_MEMORY)                  \
  X(CKR_TOKEN_NOT_RECOGNIZED)           \
  X(CKR_SLOT_ID_INVALID)                \
  X(CKR_CRYPTOKI_NOT_INITIALIZED)

// Bad input or a broken session: test the session (C_GetSessionInfo) before reconnecting.
#define HSMKMS_AMBIGUOUS_CODES(X) \
  X(CKR_GENERAL_ERROR)            \
  X(CKR_FUNCTION_FAILED)
