/**
 * What the console's end-to-end tests share: the real service (the composition root on the
 * run's token) with the built console, Debian's headless Chromium driven by playwright-core (no
 * browser download), principals, one tab per signed-in principal (a session lives in its tab's
 * memory only), screenshots at 1280×800 and at phone width, and a record of every request and
 * script problem in the watched tabs — none may leave the page's origin, no CSP violation or
 * script error may occur.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CONSOLE_DIR } from '../../src/app.js';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { startServer, type RunningServer } from '../support/server.js';

export const CHROMIUM = '/usr/bin/chromium';
/** The flags this machine's closed network needs (no background connections at all). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const SHOTS = resolve('test-results/console');
// Code run in the page is given as text: the tests are compiled without the DOM library.
export const ACTIVE_TEXT = 'document.activeElement?.textContent';
export const FOCUS_IN_DIALOG = "document.activeElement?.closest('dialog') !== null";
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface Principal {
  name: string;
  arn: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ConsoleHarness {
  server: RunningServer;
  origin: string;
  context: BrowserContext;
  /** Every URL the watched tabs requested. */
  requests: string[];
  /** CSP refusals, console errors and page errors in the watched tabs. */
  problems: string[];
  principals: Record<string, Principal>;
  /** A client signed as the account root. */
  root: HsmKmsClient;
  createPrincipal(admin: HsmKmsClient, name: string, roles: string[]): Promise<Principal>;
  clientFor(who: Principal): HsmKmsClient;
  /** A new tab; unless `watch` is false, its requests, console errors and page errors are recorded. */
  newTab(watch?: boolean): Promise<Page>;
  /** Signs in on the page's sign-in form, opening the console first unless `here`. */
  signIn(page: Page, who: Principal, here?: boolean): Promise<void>;
  /** Saves the page at 1280×800 and at phone width (390 px), full length. */
  screenshot(page: Page, name: string): Promise<void>;
  /** Saves every open tab as `failed-<name>-<n>.png`, for the report of a failed test. */
  captureFailure(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

export async function startConsole(serverOptions: Parameters<typeof startServer>[0] = {}): Promise<ConsoleHarness> {
  if (!existsSync(join(CONSOLE_DIR, 'index.html'))) throw new Error(`The console is not built (${CONSOLE_DIR}): run npm run build first.`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: npm test's set-up (ci/test-deps.mjs) installs Debian's chromium.`);
  mkdirSync(SHOTS, { recursive: true });
  const server = await startServer(serverOptions);
  const origin = new URL(server.endpoint).origin;
  const userDataDir = mkdtempSync(join(tmpdir(), 'hsmkms-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: DESKTOP,
    locale: 'en-GB',
    timezoneId: 'Europe/Paris',
    acceptDownloads: true,
  });
  const requests: string[] = [];
  const problems: string[] = [];
  const principals: Record<string, Principal> = {};
  const clientFor = (who: { accessKeyId: string; secretAccessKey: string }) =>
    new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: who.accessKeyId, secretAccessKey: who.secretAccessKey } });

  return {
    server,
    origin,
    context,
    requests,
    problems,
    principals,
    root: clientFor(server.credentials),
    clientFor,
    async createPrincipal(admin, name, roles) {
      const out = await admin.call('CreatePrincipal', { UserName: name, Roles: roles });
      const principal = { name, arn: out.Arn as string, accessKeyId: out.AccessKeyId as string, secretAccessKey: out.SecretAccessKey as string };
      principals[name] = principal;
      return principal;
    },
    async newTab(watch = true) {
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      if (!watch) return page;
      page.on('request', (request) => requests.push(request.url()));
      page.on('console', (message) => {
        // Chromium logs every 4xx answer (AccessDenied, quorum) as a failed resource: those are the
        // service's answers, shown on the page; anything else (CSP refusals, exceptions) is a problem.
        if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text()))
          problems.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      return page;
    },
    async signIn(page, who, here = false) {
      if (!here) await page.goto(`${origin}/console/`);
      await page.getByLabel('Access key ID').fill(who.accessKeyId);
      await page.getByLabel('Secret access key').fill(who.secretAccessKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('.whoami-name', { hasText: who.name }).waitFor();
    },
    async screenshot(page, name) {
      await page.setViewportSize(DESKTOP);
      await page.screenshot({ path: join(SHOTS, `${name}-1280x800.png`), fullPage: true });
      await page.setViewportSize(PHONE);
      await page.screenshot({ path: join(SHOTS, `${name}-390.png`), fullPage: true });
      await page.setViewportSize(DESKTOP);
    },
    async captureFailure(name) {
      const safe = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 80);
      let n = 0;
      for (const page of context.pages()) await page.screenshot({ path: join(SHOTS, `failed-${safe}-${n++}.png`), fullPage: true }).catch(() => undefined);
    },
    async close() {
      await context.close();
      await server.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
