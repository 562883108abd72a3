#!/usr/bin/env bash
# Runs AWS's XKS proxy test client (https://github.com/aws-samples/aws-kms-xksproxy-test-client),
# unmodified, against `hsmkms serve`:
#   1. over HTTP, all of its checks with the four kinds of keys it knows (`-a`): 49 must pass;
#   2. over HTTPS with the server key in the HSM and mutual TLS: the same 49 with a valid client
#      certificate, plus its two negative-mTLS checks (its bogus certificates must get a TLS
#      handshake_failure alert): 51 must pass.
#
# The client is not part of this repository; point XKS_TEST_CLIENT_DIR at a checkout of it:
#   git clone https://github.com/aws-samples/aws-kms-xksproxy-test-client /tmp/xks-client
#   XKS_TEST_CLIENT_DIR=/tmp/xks-client ci/xks-test-client.sh
# It needs bash 4.2+, curl 7.75+ (--aws-sigv4), jq, xxd, uuidgen (Debian: uuid-runtime),
# sha256sum, base64, awk, sed; this script also needs openssl. hsmkms must be built (npm run build).
# The test suite (npm test) checks the same things with tests of our own (test/http/xks-proxy.test.ts,
# test/tls/serve-mtls.test.ts); this script is the outside judge.
set -euo pipefail

client_dir=${XKS_TEST_CLIENT_DIR:?set XKS_TEST_CLIENT_DIR to a checkout of aws-samples/aws-kms-xksproxy-test-client}
[[ -x "$client_dir/test-xks-proxy" ]] || { echo "xks-test-client: $client_dir/test-xks-proxy not found" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
hsmkms=(node "$repo/bin/hsmkms.js")
[[ -f "$repo/dist/cli/main.js" ]] || (cd "$repo" && npm run build >/dev/null)

work=$(mktemp -d)
data="$work/data"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Keys with the ids the client uses by default, and a credential for its URI prefix.
prefix="example/uri/path/prefix"
"${hsmkms[@]}" xks credential create --uri-prefix "$prefix" --data-dir "$data" >"$work/credential.json" 2>/dev/null
"${hsmkms[@]}" xks key create --label foo --data-dir "$data" >/dev/null 2>&1
"${hsmkms[@]}" xks key create --label encrypt_only_key --usage ENCRYPT --data-dir "$data" >/dev/null 2>&1
"${hsmkms[@]}" xks key create --label decrypt_only_key --usage DECRYPT --data-dir "$data" >/dev/null 2>&1
"${hsmkms[@]}" xks key create --label impotent_key --usage NONE --data-dir "$data" >/dev/null 2>&1

export URI_PREFIX="$prefix" ANSI_ESCAPE=0 VERBOSE=-i
SIGV4_ACCESS_KEY_ID=$(jq -r .accessKeyId "$work/credential.json")
SIGV4_SECRET_ACCESS_KEY=$(jq -r .secretAccessKey "$work/credential.json")
export SIGV4_ACCESS_KEY_ID SIGV4_SECRET_ACCESS_KEY

# Starts hsmkms serve with the given extra arguments; sets server_pid and port.
start_server() {
  "${hsmkms[@]}" serve --data-dir "$data" --port 0 "$@" >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  for _ in $(seq 1 300); do
    if port=$(grep -o 'listening on https\?://[^ ]*' "$work/serve.err" | sed 's/.*://'); then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "xks-test-client: hsmkms serve did not start" >&2
  exit 1
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Runs the client from its own directory (it reads bogus-mtls/ relative to it); the output goes
# through a pipe because the client rewrites /dev/stderr, which would truncate a file.
run_client() {
  local expected=$1
  (cd "$client_dir" && ./test-xks-proxy -a 2>&1) | tee "$work/client.out" | grep -a -E '=> Test .* (PASSED|FAILED)' || true
  if ! grep -a -q "All $expected tests PASSED" "$work/client.out"; then
    echo "xks-test-client: expected all $expected checks to pass:" >&2
    tail -n 3 "$work/client.out" >&2
    exit 1
  fi
  echo "xks-test-client: all $expected checks passed"
}

echo "== AWS XKS test client over HTTP"
start_server
XKS_PROXY_HOST="127.0.0.1:$port" SCHEME="" run_client 49
stop_server

echo "== AWS XKS test client over HTTPS (key in the HSM) with mutual TLS"
tls="$work/tls"
mkdir -p "$tls"
# The server's key is generated in the token; a throwaway CA signs its CSR.
key_uri=$("${hsmkms[@]}" tls keygen --label xks-tls --spec ECC_NIST_P256 --subject "CN=localhost" --san DNS:localhost --csr "$tls/server.csr" --data-dir "$data" 2>/dev/null)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 2 -subj "/CN=xks test CA" 2>/dev/null
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 -out "$tls/server.pem" \
  -extfile <(printf 'subjectAltName=DNS:localhost\n') 2>/dev/null
# AWS KMS's client certificate names cks.kms.<region>.amazonaws.com; ours comes from a client CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/client-ca.key" -out "$tls/client-ca.pem" -days 2 -subj "/CN=xks client CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/client.key" -out "$tls/client.csr" -subj "/CN=cks.kms.us-east-1.amazonaws.com" 2>/dev/null
openssl x509 -req -in "$tls/client.csr" -CA "$tls/client-ca.pem" -CAkey "$tls/client-ca.key" -CAcreateserial -days 2 -out "$tls/client.pem" 2>/dev/null
start_server --tls-key-uri "$key_uri" --tls-cert "$tls/server.pem" --tls-client-ca "$tls/client-ca.pem" --tls-client-subject cks.kms.us-east-1.amazonaws.com
XKS_PROXY_HOST="localhost:$port" SCHEME="https://" SECURE="--cacert $tls/ca.pem" MTLS="--key $tls/client.key --cert $tls/client.pem" run_client 51
stop_server
