/**
 * `GET /console/…` — the web console's static files (built by Vite into `dist/console`) and the
 * single-page app's fallback. The console is only a client: it signs every API call with the
 * caller's own credentials (SigV4, in the browser), so the server adds no session, cookie or
 * second authentication system here, only files and the headers that keep them safe.
 *
 * The files are read once, on the first request, into memory (with a gzip copy of the text
 * ones): a caller's path is only ever a key in that map, never a filesystem path.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const CONSOLE_PATH = '/console';

/**
 * The Content-Security-Policy of every console response: the page may load scripts, styles,
 * images and fonts from its own origin only, talk to its own origin only, run no inline code and
 * build no HTML from strings (Trusted Types with no policy), and may not be framed.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** Vite puts content-hashed files under `assets/`: they never change, so caches keep them a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Everything else (index.html, files from `public/`): kept, but revalidated with the ETag. */
const REVALIDATE = 'no-cache';

/** The media types of what a Vite build emits; anything else is served as bytes. */
const MEDIA_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Bounds on what is read into memory, whatever the directory holds. */
const MAX_FILES = 500;
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;

/** Where index.html says which region to sign for; the server fills in its own. */
const REGION_META = '<meta name="hsmkms-region" content="">';

interface Asset {
  body: Buffer;
  gzip?: Buffer | undefined;
  type: string;
  etag: string;
  cacheControl: string;
}

export interface ConsoleOptions {
  /** The built console: `index.html` and `assets/` (`dist/console` in a checkout or package). */
  dir: string;
  /** The region the console signs requests for unless the person signing in chooses another. */
  region: string;
}

function escapeAttribute(value: string): string {
  return value.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function asset(body: Buffer, type: string, cacheControl: string): Asset {
  const compressible = type.startsWith('text/') || type.startsWith('application/json') || type === 'image/svg+xml';
  const gzip = compressible && body.length > 1024 ? gzipSync(body, { level: 9 }) : undefined;
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, gzip: gzip && gzip.length < body.length ? gzip : undefined, type, etag, cacheControl };
}

/** Reads the built console into memory: URL path below /console (`/index.html`, `/assets/x.js`) → asset. */
export function loadConsoleAssets(options: ConsoleOptions): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let total = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(path);
        continue;
      }
      if (!entry.isFile()) continue;
      if (assets.size >= MAX_FILES) throw new Error(`the console directory ${options.dir} holds more than ${MAX_FILES} files`);
      total += statSync(path).size;
      if (total > MAX_TOTAL_BYTES) throw new Error(`the console directory ${options.dir} holds more than ${MAX_TOTAL_BYTES} bytes`);
      const urlPath = `/${relative(options.dir, path).split(sep).join('/')}`;
      let body = readFileSync(path);
      const type = MEDIA_TYPES[extname(entry.name).toLowerCase()] ?? 'application/octet-stream';
      if (urlPath === '/index.html')
        body = Buffer.from(body.toString('utf8').replace(REGION_META, `<meta name="hsmkms-region" content="${escapeAttribute(options.region)}">`));
      assets.set(urlPath, asset(body, type, urlPath.startsWith('/assets/') ? IMMUTABLE : REVALIDATE));
    }
  };
  walk(options.dir);
  if (!assets.has('/index.html')) throw new Error(`${join(options.dir, 'index.html')} is missing`);
  return assets;
}

/** Whether Accept-Encoding admits gzip (named or `*`, without `q=0`); linear in the header. */
function acceptsGzip(request: FastifyRequest): boolean {
  const header = request.headers['accept-encoding'];
  if (typeof header !== 'string') return false;
  for (const part of header.split(',', 32)) {
    const [coding = '', ...parameters] = part.split(';', 4);
    const name = coding.trim().toLowerCase();
    if (name !== 'gzip' && name !== '*') continue;
    const q = parameters.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

function send(request: FastifyRequest, reply: FastifyReply, file: Asset): FastifyReply {
  reply.headers(SECURITY_HEADERS).header('cache-control', file.cacheControl).header('etag', file.etag).header('vary', 'accept-encoding');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  reply.header('content-type', file.type);
  if (file.gzip && acceptsGzip(request)) return reply.header('content-encoding', 'gzip').send(file.gzip);
  return reply.send(file.body);
}

function notFound(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(404).headers(SECURITY_HEADERS).header('cache-control', 'no-store').header('content-type', 'text/plain; charset=utf-8').send(message);
}

/**
 * Registers `GET /console` and `GET /console/*` (HEAD too). A path naming a file serves it; a
 * path with an extension that names none is a 404 (a missing script must not come back as HTML);
 * any other path is a page of the single-page app and gets index.html.
 */
export function registerConsoleRoute(app: FastifyInstance, options: ConsoleOptions): void {
  let loaded: Map<string, Asset> | Error | undefined;
  const assets = (request: FastifyRequest): Map<string, Asset> | undefined => {
    if (loaded === undefined) {
      try {
        loaded = loadConsoleAssets(options);
      } catch (error) {
        loaded = error instanceof Error ? error : new Error(String(error));
        request.log.warn({ err: loaded.message }, 'the web console is not available');
      }
    }
    return loaded instanceof Error ? undefined : loaded;
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const files = assets(request);
    if (!files) return notFound(reply, 'The web console is not built in this installation. In a checkout, run `npm run build`.\n');
    const path = request.url.split('?', 1)[0]!.slice(CONSOLE_PATH.length);
    const file = files.get(path === '' || path === '/' ? '/index.html' : path);
    if (file) return send(request, reply, file);
    const last = path.slice(path.lastIndexOf('/') + 1);
    if (last.includes('.')) return notFound(reply, 'Not found.\n');
    return send(request, reply, files.get('/index.html')!);
  };
  app.get(CONSOLE_PATH, handler);
  app.get(`${CONSOLE_PATH}/*`, handler);
}
