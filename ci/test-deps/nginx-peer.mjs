// @ts-check
// The custom install of the `nginx-light` entry of BENCH_PACKAGES (ci/test-deps.mjs): nginx and
// Debian's libp11 OpenSSL engine, the peer the TLS benchmark (ci/bench/tls-handshakes.mjs) runs
// beside hsmkms's own TLS offload, on a port of its own.
//
// Installing Debian's nginx would start its service on port 80 and enable it at boot. The
// benchmark needs neither, so while apt-get runs a policy-rc.d (Debian's switch for package
// scripts starting services; invoke-rc.d and deb-systemd-invoke honour it) refuses every start,
// and the service is disabled afterwards. A policy-rc.d the system already has is left as it is.
//
// `node ci/test-deps/nginx-peer.mjs` installs them (the entry's `install` command, run as root).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

const POLICY = '/usr/sbin/policy-rc.d';
const PACKAGES = ['nginx-light', 'libengine-pkcs11-openssl'];

const ours = !existsSync(POLICY);
if (ours) writeFileSync(POLICY, '#!/bin/sh\n# hsmkms bench set-up (ci/test-deps/nginx-peer.mjs): no service starts while packages install\nexit 101\n', { mode: 0o755 });
try {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...PACKAGES], { stdio: 'inherit', env });
  // Not at boot either. Either tool may be absent (a container without systemd): nothing to undo then.
  for (const [tool, ...args] of [['systemctl', 'disable', 'nginx.service'], ['update-rc.d', 'nginx', 'disable']]) {
    try {
      execFileSync(/** @type {string} */ (tool), args, { stdio: 'ignore' });
    } catch {
      // not there, or nothing to disable
    }
  }
} finally {
  if (ours) rmSync(POLICY, { force: true });
}
