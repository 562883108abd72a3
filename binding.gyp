{
  "targets": [
    {
      "target_name": "hsmkms_tls",
      "sources": [
        "native/addon.cc",
        "native/client-verify.cc",
        "native/ecdsa-verify.cc",
        "native/engine.cc",
        "native/errors.cc",
        "native/file-map.cc",
        "native/key-templates.cc",
        "native/key-uri.cc",
        "native/sign-thread.cc",
        "native/signing.cc",
        "native/token.cc",
        "native/token-key.cc",
        "native/token-registry.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"require('path').join(require('path').dirname(require.resolve('pkcs11js')), 'includes', 'pkcs11')\")"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "OPENSSL_API_COMPAT=0x10100000L", "OPENSSL_SUPPRESS_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      # Deliberately not linked to libcrypto: the OpenSSL symbols resolve to the ones the node
      # binary exports, so the ENGINE registers in Node's own OpenSSL, not in a second copy.
      "libraries": ["-ldl"]
    }
  ]
}
