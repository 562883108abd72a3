// The PKCS#11 (Cryptoki) header with the platform macros it requires on Unix.
// The header itself comes from the pkcs11js dependency (OASIS/RSA v2.20), so the addon needs
// no system development package.
#pragma once

#define CK_PTR *
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType(*name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType(*name)
#ifndef NULL_PTR
#define NULL_PTR nullptr
#endif

#include <pkcs11.h>
