// Baseline for `npm run bench`: a bare node:http server doing exactly one PKCS#11 call per
// request on the same token — what any service in front of this HSM must at least pay.
// Usage: node bare-server.mjs <port> [processes]; token settings from the environment (see
// run.mjs). With processes > 1 it runs as a node:cluster of that many workers sharing the port
// (a primary plus N workers, as `hsmkms serve --workers N` does), so that a ratio compares the
// same number of processes on both sides.
import cluster from 'node:cluster';
import http from 'node:http';
import { openToken } from './token.mjs';

const port = Number(process.argv[2]);
const processes = Number(process.argv[3] ?? 1);

if (processes > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < processes; i++)
    cluster.fork().on('message', (m) => {
      if (m === 'ready' && ++ready === processes) process.stdout.write(`ready (${processes} processes)\n`);
    });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const token = openToken();
  const aes = token.aesKey();
  const rsa = token.signingKey('rsa');
  const ec = token.signingKey('ec');
  // Decrypt: one C_DecryptInit + C_Decrypt of a ciphertext made here (the body is ignored).
  const sealed = token.gcmEncrypt(aes, Buffer.alloc(1024, 7));

  const routes = {
    '/encrypt': (body) => token.gcmEncrypt(aes, body),
    '/decrypt': () => token.gcmDecrypt(aes, sealed),
    '/sign-rsa': (body) => token.sign(rsa, body),
    '/sign-ec': (body) => token.sign(ec, body),
  };

  http
    .createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const route = routes[req.url];
        if (!route) {
          res.writeHead(404).end();
          return;
        }
        const out = await route(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ out: out.toString('base64') }));
      });
    })
    .listen(port, '127.0.0.1', () => {
      if (cluster.isWorker) process.send?.('ready');
      else process.stdout.write('ready\n');
    });
}
