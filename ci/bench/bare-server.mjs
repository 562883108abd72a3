// Baseline for `npm run bench`: a bare node:http server doing exactly one PKCS#11 call per
// request on the same token — what any service in front of this HSM must at least pay.
// Usage: node bare-server.mjs <port>; token settings from the environment (see run.mjs).
import http from 'node:http';
import { openToken } from './token.mjs';

const port = Number(process.argv[2]);
const token = openToken();
const aes = token.aesKey();
const rsa = token.signingKey('rsa');
const ec = token.signingKey('ec');

const routes = {
  '/encrypt': (body) => token.gcmEncrypt(aes, body),
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
  .listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
