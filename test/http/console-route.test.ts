/**
 * The console's static route: files from a directory laid out as Vite builds it, the headers
 * that keep the page safe (CSP, nosniff, no framing), caching, compression and the single-page
 * app's fallback — through the real fastify server with inject().
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../../src/http/console-route.js';
import { createHarness, SETTINGS, type Harness } from './support.js';

let dir: string;
let h: Harness;
const script = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hsmkms-console-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><html><head><meta name="hsmkms-region" content=""><script type="module" src="/console/assets/index-AbC123.js"></script></head><body></body></html>',
  );
  writeFileSync(join(dir, 'assets', 'index-AbC123.js'), script);
  writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  h = await createHarness({ consoleDir: dir });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

function expectSecurityHeaders(headers: Record<string, unknown>): void {
  expect(headers['content-security-policy']).toBe(CONSOLE_CSP);
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['referrer-policy']).toBe('no-referrer');
}

describe('the console route', () => {
  it('has a CSP that allows only its own origin, no inline code and no framing', () => {
    const directives = new Map(CONSOLE_CSP.split('; ').map((d) => [d.split(' ')[0], d.slice(d.indexOf(' ') + 1)]));
    expect(directives.get('default-src')).toBe("'none'");
    for (const name of ['script-src', 'style-src', 'connect-src', 'img-src', 'font-src']) expect(directives.get(name)).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
  });

  it('serves index.html for /console, /console/ and any page path, with the server’s region and security headers', async () => {
    for (const url of ['/console', '/console/', '/console/keys', '/console/keys/1234abcd-12ab-34cd-56ef-1234567890ab?tab=policy']) {
      const res = await h.server.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toContain(`<meta name="hsmkms-region" content="${SETTINGS.region}">`);
      expectSecurityHeaders(res.headers);
    }
  });

  it('serves hashed assets as immutable, with an ETag, 304 on revalidation and gzip when accepted', async () => {
    const res = await h.server.inject({ method: 'GET', url: '/console/assets/index-AbC123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body).toBe(script);
    expectSecurityHeaders(res.headers);

    const again = await h.server.inject({ method: 'GET', url: '/console/assets/index-AbC123.js', headers: { 'if-none-match': String(res.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');

    const gzipped = await h.server.inject({ method: 'GET', url: '/console/assets/index-AbC123.js', headers: { 'accept-encoding': 'br, gzip;q=0.8' } });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers.vary).toBe('accept-encoding');
    expect(gunzipSync(gzipped.rawPayload).toString()).toBe(script);
    const refused = await h.server.inject({ method: 'GET', url: '/console/assets/index-AbC123.js', headers: { 'accept-encoding': 'gzip;q=0, br' } });
    expect(refused.headers['content-encoding']).toBeUndefined();

    const favicon = await h.server.inject({ method: 'GET', url: '/console/favicon.svg' });
    expect(favicon.headers['content-type']).toBe('image/svg+xml');
    expect(favicon.headers['cache-control']).toBe('no-cache');
    expect((await h.server.inject({ method: 'HEAD', url: '/console/' })).statusCode).toBe(200);
  });

  it('answers 404 for a missing file (never index.html in its place) and serves nothing outside its directory', async () => {
    for (const url of ['/console/assets/index-missing.js', '/console/../package.json', '/console/%2e%2e/%2e%2e/package.json', '/console/assets/..%2f..%2findex.html.js']) {
      const res = await h.server.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('"name"');
      expect(res.body).not.toContain('<meta');
    }
    const missing = await h.server.inject({ method: 'GET', url: '/console/assets/index-missing.js' });
    expectSecurityHeaders(missing.headers);
  });

  it('leaves POST / to the API and sends a browser that opens / to the console', async () => {
    expect((await h.server.inject({ method: 'POST', url: '/console/' })).json()).toMatchObject({ __type: 'UnknownOperationException' });
    const browser = await h.server.inject({ method: 'GET', url: '/', headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(browser.statusCode).toBe(302);
    expect(browser.headers.location).toBe('/console/');
    const api = await h.server.inject({ method: 'GET', url: '/' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('is absent unless configured, and says so when the console was not built', async () => {
    const none = await createHarness();
    try {
      expect((await none.server.inject({ method: 'GET', url: '/console/' })).json()).toMatchObject({ __type: 'UnknownOperationException' });
    } finally {
      await none.close();
    }
    const unbuilt = await createHarness({ consoleDir: join(dir, 'no-such-build') });
    try {
      const res = await unbuilt.server.inject({ method: 'GET', url: '/console/' });
      expect(res.statusCode).toBe(404);
      expect(res.body).toContain('npm run build');
      expect(unbuilt.logs()).toContain('the web console is not available');
    } finally {
      await unbuilt.close();
    }
  });
});
