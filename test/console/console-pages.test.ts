/**
 * The console's pages for the private CA, custom key stores and the audit trail, and the key
 * page's editing, end to end in Debian's headless Chromium against the real service (see
 * harness.ts), on the run's SoftHSM2 token plus two extra tokens for key stores.
 *
 * Flows: a CryptoUser whom the CA's key policy lets sign issues a certificate from a CSR made by
 * openssl and pasted into the page, downloads it with its chain (a blob: link, under the strict
 * CSP) and openssl verifies it; the CA chain and CRL download from the public endpoints; the
 * certificate is revoked with a reason and the CRL says so; a CryptoUser without the right is
 * refused with the service's AccessDeniedException. A CryptoOfficer creates a token-backed key
 * store with the keyboard only, sees a failed connection's error code and what to do, fixes the
 * password and connects it with progress; a key is created in it; a store holding keys is not
 * deleted (the service's CustomKeyStoreHasCMKsException), an empty one is. On a key's page:
 * description, tags, aliases, on-demand rotation, a grant created and revoked. An Auditor finds
 * these calls in the audit viewer — the denied one too — opens a record, sees the chain verified
 * per node, follows a key's link to its events and pages through the trail; a CryptoUser is not
 * offered the viewer. Idle sign-out drops the session. Each new page is saved as a screenshot at
 * 1280×800 and 390 px.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { CreateCustomKeyStoreCommand, CreateKeyCommand, DescribeKeyCommand, GetKeyPolicyCommand, ListResourceTagsCommand, KMSClient, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { parseClusterSpec } from '../../src/backend/pkcs11/cluster-tokens.js';
import { initCa } from '../../src/ca/index.js';
import { opensslCsr, pemBlocks, run, writePem } from '../ca/support.js';
import { createTestCluster, type TestCluster } from '../support/clusters.js';
import { ACTIVE_TEXT, FOCUS_IN_DIALOG, heading, startConsole, type ConsoleHarness, type Principal } from './harness.js';

const CA = 'console';
let h: ConsoleHarness;
let cluster: TestCluster;
/** A second token, for a store that is deleted (a store with keys cannot be). */
let spare: TestCluster;
let dir: string;
let csrPem: string;
let rootPem: string;
const who: Record<string, Principal> = {};
const tabs: Record<string, Page> = {};

/** Adds a key policy statement: `principal` may run `actions` with the key. */
async function allow(kms: KMSClient, keyArn: string, principal: string, actions: string[]): Promise<void> {
  const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy!);
  policy.Statement.push({ Sid: `Console${policy.Statement.length}`, Effect: 'Allow', Principal: { AWS: principal }, Action: actions, Resource: '*' });
  await kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(policy) }));
}

/** Clicks `link` and answers the download it starts: its file name and bytes. */
async function download(page: Page, link: ReturnType<Page['getByRole']>): Promise<{ name: string; body: Buffer }> {
  const [started] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const path = join(dir, `download-${Date.now()}-${started.suggestedFilename()}`);
  await started.saveAs(path);
  return { name: started.suggestedFilename(), body: readFileSync(path) };
}

async function tab(name: string): Promise<Page> {
  tabs[name] ??= await h.newTab();
  return tabs[name];
}

async function nav(page: Page, label: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hsmkms-console-pages-'));
  cluster = await createTestCluster('console');
  spare = await createTestCluster('spare');
  const spec = (c: TestCluster) => parseClusterSpec(`${c.label}=${process.env.HSMKMS_TEST_MODULE}:${c.label}`);
  h = await startConsole({
    clusters: { configured: [spec(cluster), spec(spare)] },
    // A signed digest every few records, so the chain is verified up to a recent sequence.
    audit: { digestEveryRecords: 5 },
  });
  who.officer = await h.createPrincipal(h.root, 'officer', ['CryptoOfficer']);
  const admin = h.clientFor(who.officer);
  who.issuer = await h.createPrincipal(admin, 'issuer', ['CryptoUser']);
  who.user = await h.createPrincipal(admin, 'user', ['CryptoUser']);
  who.auditor = await h.createPrincipal(admin, 'auditor', ['Auditor']);
  // A CryptoUser reads key stores only where an identity policy lets it (the role table's `policy`).
  await admin.call('PutPrincipalPolicy', {
    UserName: 'user',
    PolicyName: 'read-key-stores',
    PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:DescribeCustomKeyStores', Resource: '*' }] }),
  });

  const created = await initCa(h.server.app.ca, { name: CA, subject: 'CN=Console Root,O=hsmkms tests,C=US', keySpec: 'ECC_NIST_P256', baseUrl: h.server.endpoint });
  rootPem = created.rootPem;
  const authorities = (await h.root.call('ListCertificateAuthorities', {})).CertificateAuthorities as Array<{ CaName: string; IntermediateKeyArn: string }>;
  const kms = new KMSClient({ endpoint: h.server.endpoint, region: h.server.region, credentials: h.server.credentials, maxAttempts: 1 });
  await allow(kms, authorities.find((a) => a.CaName === CA)!.IntermediateKeyArn, who.issuer.arn, ['kms:Sign', 'kms:DescribeKey']);
  kms.destroy();
  csrPem = readFileSync(await opensslCsr(dir, 'web', 'ec-p256', '/CN=web.console.test', ['DNS:web.console.test']), 'utf8');
}, 300_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await h?.captureFailure(ctx.task.name);
});

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the CA certificates page', () => {
  let serial: string;

  it('issues a certificate from a pasted CSR and downloads it with its chain, which openssl verifies', async () => {
    const page = await tab('issuer');
    await h.signIn(page, who.issuer!);
    await nav(page, 'Certificates');
    await heading(page, 'Certificates');
    await page.getByRole('heading', { level: 2, name: `CA ${CA}` }).waitFor();
    expect(await page.getByLabel('Certificate authority').inputValue()).toBe(CA);
    // Before any issuance the CA's own certificates are listed; they are not revoked from here.
    const caRow = page.getByRole('row', { name: /intermediate-ca/ });
    await caRow.getByText('Valid', { exact: true }).waitFor();
    expect(await caRow.getByRole('button').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Revoke / }).count()).toBe(0);
    await page.getByRole('button', { name: 'Issue certificate' }).click();
    const dialog = page.getByRole('dialog', { name: `Issue a certificate from ${CA}` });
    await dialog.getByLabel('Certificate signing request (PEM)').fill(csrPem);
    await dialog.getByLabel('Profile').selectOption('tls-server');
    await dialog.getByLabel('Validity in days (optional)').fill('30');
    await h.screenshot(page, '11-issue-certificate');
    await dialog.getByRole('button', { name: 'Issue certificate' }).click();

    const issued = page.getByRole('dialog', { name: 'Certificate issued' });
    await issued.getByText('CN=web.console.test').waitFor();
    serial = (await issued.locator('dd.mono').first().textContent())!;
    expect(serial).toMatch(/^[0-9a-f:]+$/i);
    expect(await issued.getByLabel('Certificate (PEM)').inputValue()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    await h.screenshot(page, '12-certificate-issued');

    // A blob: download made in the page, under the console's CSP.
    const full = await download(page, issued.getByRole('link', { name: 'Download certificate with chain' }));
    expect(full.name).toBe('web.console.test-fullchain.pem');
    const [leaf, intermediate, root] = pemBlocks(full.body.toString('utf8'));
    expect(root?.trim()).toBe(rootPem.trim());
    const verified = await run('openssl', ['verify', '-CAfile', writePem(dir, 'root.pem', root!), '-untrusted', writePem(dir, 'inter.pem', intermediate!), writePem(dir, 'leaf.pem', leaf!)]);
    expect(verified.stdout).toContain(': OK');
    const subject = await run('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-subject', '-ext', 'subjectAltName']);
    expect(subject.stdout).toMatch(/CN\s*=\s*web\.console\.test/);
    expect(subject.stdout).toContain('DNS:web.console.test');
    await issued.getByRole('button', { name: 'Done' }).click();

    const row = page.getByRole('row', { name: /CN=web\.console\.test/ });
    await row.getByText('Valid', { exact: true }).waitFor();
    // The CA's chain and CRL from the public endpoints, as relying parties fetch them.
    const chain = await download(page, page.getByRole('link', { name: 'Download CA chain (ca.pem)' }));
    expect(chain.body.toString('utf8')).toBe(await (await fetch(`${h.origin}/ca/${CA}/ca.pem`)).text());
    const crl = await download(page, page.getByRole('link', { name: 'Download CRL' }));
    writeFileSync(join(dir, 'before.crl'), crl.body);
    await run('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'before.crl'), '-noout']);
    await h.screenshot(page, '13-certificates');
  });

  it('revokes it with a reason; the downloaded CRL lists it', async () => {
    const page = tabs.issuer!;
    await page.getByRole('button', { name: /^Revoke CN=web\.console\.test/ }).click();
    const dialog = page.getByRole('dialog', { name: /Revoke CN=web\.console\.test/ });
    await dialog.getByLabel('Reason').selectOption('KEY_COMPROMISE');
    await dialog.getByRole('button', { name: 'Revoke certificate' }).click();
    await page.getByRole('status').filter({ hasText: 'is revoked' }).waitFor();
    await page.getByRole('row', { name: /CN=web\.console\.test/ }).getByText('Revoked', { exact: true }).waitFor();
    const crl = await download(page, page.getByRole('link', { name: 'Download CRL' }));
    writeFileSync(join(dir, 'after.crl'), crl.body);
    const text = (await run('openssl', ['crl', '-inform', 'DER', '-in', join(dir, 'after.crl'), '-noout', '-text'])).stdout;
    expect(text.toUpperCase()).toContain(serial.replace(/:/g, '').toUpperCase());
    expect(text).toContain('Key Compromise');
  });

  it('shows a CryptoUser without the right the service’s AccessDeniedException', async () => {
    const page = await tab('user');
    await h.signIn(page, who.user!);
    await nav(page, 'Certificates');
    await page.getByRole('button', { name: 'Issue certificate' }).click();
    const dialog = page.getByRole('dialog', { name: `Issue a certificate from ${CA}` });
    await dialog.getByLabel('Certificate signing request (PEM)').fill(csrPem);
    await dialog.getByRole('button', { name: 'Issue certificate' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.locator('.error-name').textContent()).toBe('AccessDeniedException');
    expect(await alert.locator('.error-message').textContent()).toMatch(/^User: \S+:user\/user is not authorized to perform: kms:Sign/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });
});

describe('the custom key stores page', () => {
  const STORE = 'console-partition';

  it('lets a CryptoOfficer create a token-backed store from the keyboard alone', async () => {
    const page = await tab('officer');
    await h.signIn(page, who.officer!);
    await nav(page, 'Key stores');
    await heading(page, 'Custom key stores');
    await page.getByText('No custom key stores yet').waitFor();
    await page.getByRole('button', { name: 'Create key store' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Create custom key store' });
    await dialog.waitFor();
    // The dialog starts at its first field, the type; Tab moves on, Escape would close it.
    expect(await page.evaluate('document.activeElement?.getAttribute("type")')).toBe('radio');
    await page.keyboard.press('Tab');
    await page.keyboard.type(STORE);
    await page.keyboard.press('Tab');
    await page.keyboard.type(cluster.label);
    await page.keyboard.press('Tab');
    // A wrong password: the connection will fail with INVALID_CREDENTIALS.
    await page.keyboard.type('not-the-pin');
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press(i % 2 ? 'Shift+Tab' : 'Tab');
      expect(await page.evaluate(FOCUS_IN_DIALOG)).toBe(true);
    }
    expect(await dialog.getByLabel('Name').inputValue()).toBe(STORE);
    expect(await dialog.getByLabel('Cluster ID').inputValue()).toBe(cluster.label);
    await h.screenshot(page, '14-create-key-store');
    await dialog.getByLabel('Key store password').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: `${STORE} is created` }).waitFor();
    await page.getByRole('row', { name: new RegExp(STORE) }).getByText('Disconnected', { exact: true }).waitFor();
    expect(await page.evaluate(ACTIVE_TEXT)).toBe('Create key store');
  });

  it('shows a failed connection’s error code and what to do, then connects once the password is fixed', async () => {
    const page = tabs.officer!;
    const row = page.getByRole('row', { name: new RegExp(STORE) });
    await row.getByRole('button', { name: `Connect ${STORE}` }).click();
    await page.getByRole('status').filter({ hasText: `${STORE} is Failed (INVALID_CREDENTIALS)` }).waitFor();
    await row.getByText('INVALID_CREDENTIALS').waitFor();
    await row.getByText('The key store password is not the token’s user PIN').waitFor();
    await h.screenshot(page, '15-key-store-failed');

    await row.getByRole('button', { name: `Disconnect ${STORE}` }).click();
    await page.getByRole('dialog', { name: `Disconnect ${STORE}?` }).getByRole('button', { name: 'Disconnect' }).click();
    await row.getByText('Disconnected', { exact: true }).waitFor();
    await row.getByRole('button', { name: `Update ${STORE}` }).click();
    const update = page.getByRole('dialog', { name: `Update ${STORE}` });
    await update.getByLabel('New key store password').fill(cluster.userPin);
    await update.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'updated password' }).waitFor();

    await row.getByRole('button', { name: `Connect ${STORE}` }).click();
    // The page polls while the store is CONNECTING and says when it settled.
    await page.getByRole('status').filter({ hasText: `${STORE} is Connected.` }).waitFor();
    await row.getByText('Connected', { exact: true }).waitFor();
    await h.screenshot(page, '16-key-stores');
    expect(await page.content()).not.toContain(cluster.userPin);
    expect(h.server.logs()).not.toContain(cluster.userPin);
  });

  it('creates a key in the store from the keys page, which shows and filters by store', async () => {
    const page = tabs.user!;
    await nav(page, 'Keys');
    await heading(page, 'Keys');
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create key' });
    await dialog.getByLabel('Alias (optional)').fill('in-partition');
    await dialog.getByLabel('Key store').selectOption({ label: `${STORE} (AWS_CLOUDHSM, CONNECTED)` });
    expect(await dialog.getByLabel('Key spec').isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('status').getByRole('link', { name: 'alias/in-partition' }).waitFor();
    const row = page.getByRole('row', { name: /alias\/in-partition/ });
    await row.getByRole('link', { name: STORE }).waitFor();
    await page.getByLabel('Key store').selectOption({ label: 'Default (this server’s token)' });
    await row.waitFor({ state: 'detached' });
    await page.getByLabel('Key store').selectOption({ label: STORE });
    await row.waitFor();
    expect(await page.getByRole('table', { name: 'Keys' }).locator('tbody tr').count()).toBe(1);
  });

  it('refuses to delete a store that holds keys with the service’s error, and deletes an empty one', async () => {
    const page = tabs.officer!;
    const kms = new KMSClient({ endpoint: h.server.endpoint, region: h.server.region, credentials: who.officer!, maxAttempts: 1 });
    await kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'spare-store', CloudHsmClusterId: spare.label, KeyStorePassword: spare.userPin }));
    kms.destroy();
    await page.reload();
    await h.signIn(page, who.officer!, true);
    await heading(page, 'Custom key stores');

    const row = page.getByRole('row', { name: new RegExp(STORE) });
    await row.getByRole('button', { name: `Disconnect ${STORE}` }).click();
    await page.getByRole('dialog', { name: `Disconnect ${STORE}?` }).getByRole('button', { name: 'Disconnect' }).click();
    await row.getByText('Disconnected', { exact: true }).waitFor();
    await row.getByRole('button', { name: `Delete ${STORE}` }).click();
    let dialog = page.getByRole('dialog', { name: `Delete ${STORE}?` });
    await dialog.getByRole('button', { name: 'Delete key store' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.locator('.error-name').textContent()).toBe('CustomKeyStoreHasCMKsException');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await row.waitFor();

    const spareRow = page.getByRole('row', { name: /spare-store/ });
    await spareRow.getByRole('button', { name: 'Delete spare-store' }).click();
    dialog = page.getByRole('dialog', { name: 'Delete spare-store?' });
    await dialog.getByRole('button', { name: 'Delete key store' }).click();
    await page.getByRole('status').filter({ hasText: 'spare-store is deleted.' }).waitFor();
    await spareRow.waitFor({ state: 'detached' });
    await row.waitFor();
  });
});

describe('a key’s page', () => {
  // One key, edited step by step in the CryptoUser's tab.
  const section = (id: string) => tabs.user!.locator(`#${id}`);

  it('edits the description and tags, with the service’s rules as you type', async () => {
    const page = tabs.user!;
    const kms = new KMSClient({ endpoint: h.server.endpoint, region: h.server.region, credentials: who.user!, maxAttempts: 1 });
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'before' }))).KeyMetadata!.KeyId!;
    await page.goto(`${h.origin}/console/keys/${keyId}`);
    await h.signIn(page, who.user!, true);
    await heading(page, keyId);

    await page.getByRole('button', { name: 'Edit description' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit description' });
    await dialog.getByLabel('Description').fill('orders service, production');
    await dialog.getByRole('button', { name: 'Save description' }).click();
    await page.locator('#details').getByText('orders service, production').waitFor();

    const tags = page.locator('#tags');
    await tags.getByLabel('Tag key').fill('aws:owner');
    await tags.getByText('Tags beginning with aws: are reserved').waitFor();
    expect(await tags.getByRole('button', { name: 'Add tag' }).isDisabled()).toBe(true);
    await tags.getByLabel('Tag key').fill('team');
    await tags.getByLabel('Tag value').fill('payments');
    await tags.getByRole('button', { name: 'Add tag' }).click();
    await tags.getByRole('row', { name: /team payments/ }).waitFor();
    await tags.getByRole('button', { name: 'Change tag team' }).click();
    await tags.getByLabel('Tag value').fill('orders');
    await tags.getByRole('button', { name: 'Change tag', exact: true }).click();
    await tags.getByRole('row', { name: /team orders/ }).waitFor();
    // What the page shows is what the service holds.
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Description).toBe('orders service, production');
    expect((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags).toEqual([{ TagKey: 'team', TagValue: 'orders' }]);
    kms.destroy();
  });

  it('adds an alias, which then names the page', async () => {
    const page = tabs.user!;
    const aliases = section('aliases');
    await aliases.getByLabel('New alias').fill('aws/mine');
    await aliases.getByText('reserved for AWS managed keys').waitFor();
    await aliases.getByLabel('New alias').fill('orders/prod');
    await aliases.getByRole('button', { name: 'Add alias' }).click();
    await aliases.getByText('alias/orders/prod', { exact: true }).waitFor();
    await heading(page, 'alias/orders/prod');
  });

  it('rotates on demand and lists the rotation', async () => {
    const page = tabs.user!;
    const rotation = section('rotation');
    await rotation.getByRole('button', { name: 'Rotate now…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate the key now?' });
    await dialog.getByRole('button', { name: 'Rotate now' }).click();
    await rotation.getByRole('cell', { name: 'ON_DEMAND' }).waitFor();
  });

  it('creates a grant for the operations the key supports, with a constraint, and revokes it', async () => {
    const page = tabs.user!;
    const grants = section('grants');
    await grants.getByRole('button', { name: 'Create grant' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create grant' });
    await dialog.getByLabel('Grantee (user name or principal ARN)').fill('issuer');
    await dialog.getByLabel('Decrypt', { exact: true }).check();
    await dialog.getByLabel('Encrypt', { exact: true }).check();
    // Only the operations this key supports are offered.
    expect(await dialog.getByLabel('Sign', { exact: true }).count()).toBe(0);
    await dialog.getByLabel('Encryption context constraint').selectOption('EncryptionContextSubset');
    await dialog.getByLabel('Pairs (one key=value per line)').fill('app=orders');
    await dialog.getByLabel('Name (optional)').fill('orders-app');
    await h.screenshot(page, '17-create-grant');
    await dialog.getByRole('button', { name: 'Create grant' }).click();
    const made = page.getByRole('dialog', { name: 'Grant created' });
    expect(await made.getByLabel('Grant token').inputValue()).not.toBe('');
    await made.getByRole('button', { name: 'Done' }).click();
    const grantRow = grants.getByRole('row', { name: /orders-app/ });
    await grantRow.getByText('Decrypt, Encrypt').waitFor();
    expect(await grantRow.textContent()).toContain('"EncryptionContextSubset":{"app":"orders"}');
    await h.screenshot(page, '18-key-detail-editing');
    await grantRow.getByRole('button', { name: 'Revoke grant orders-app' }).click();
    await page.getByRole('dialog', { name: 'Revoke grant orders-app?' }).getByRole('button', { name: 'Revoke grant' }).click();
    await grants.getByText('Grant orders-app is revoked.').waitFor();
    await grantRow.waitFor({ state: 'detached' });
  });

  it('removes the tag and deletes the alias after confirmation', async () => {
    const page = tabs.user!;
    const tags = section('tags');
    const aliases = section('aliases');
    await tags.getByRole('button', { name: 'Remove tag team' }).click();
    await page.getByRole('dialog', { name: 'Remove tag team?' }).getByRole('button', { name: 'Remove tag' }).click();
    await tags.getByText('No tags.').waitFor();
    await aliases.getByRole('button', { name: 'Delete alias/orders/prod' }).click();
    await page.getByRole('dialog', { name: 'Delete alias/orders/prod?' }).getByRole('button', { name: 'Delete alias' }).click();
    await aliases.getByText('No alias points to this key.').waitFor();
  });
});

describe('the audit viewer', () => {
  it('is offered to Auditors, not to CryptoUsers', async () => {
    const user = tabs.user!;
    expect(await user.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents()).not.toContain('Audit');
    await user.goto(`${h.origin}/console/audit`);
    await h.signIn(user, who.user!, true);
    await heading(user, 'Not available');
    await user.getByText('The audit trail is read by Auditors and CryptoOfficers').waitFor();

    const page = await tab('auditor');
    await h.signIn(page, who.auditor!);
    await nav(page, 'Audit');
    await heading(page, 'Audit trail');
  });

  it('shows the chain verified per node', async () => {
    const page = tabs.auditor!;
    const verification = page.locator('#verification');
    await verification.getByText('Verified: no record was changed, removed, reordered or inserted.').waitFor();
    const nodes = verification.getByRole('table', { name: 'Verification by node' });
    await nodes.getByText(/Verified up to sequence \d+/).first().waitFor();
    expect(await nodes.locator('tbody tr').count()).toBeGreaterThanOrEqual(1);
    await h.screenshot(page, '19-audit');
  });

  it('finds the certificate calls, the denied one as AccessDenied (CloudTrail’s errorCode), and opens a record', async () => {
    const page = tabs.auditor!;
    await page.getByLabel('Event name').fill('HsmKms.IssueCertificate');
    await page.getByRole('button', { name: 'Search' }).click();
    const events = page.getByRole('table', { name: 'Audit events' });
    const denied = events.getByRole('row').filter({ hasText: 'HsmKms.IssueCertificate' }).filter({ hasText: 'AccessDenied' });
    await denied.waitFor();
    expect(await denied.textContent()).toContain('user');
    const allowed = events.getByRole('row').filter({ hasText: 'issuer' });
    await allowed.getByText('OK', { exact: true }).waitFor();
    expect(new URL(page.url()).searchParams.get('event')).toBe('HsmKms.IssueCertificate');

    await denied.getByRole('button', { name: /Show the record of HsmKms\.IssueCertificate/ }).click();
    const record = page.getByRole('dialog', { name: 'HsmKms.IssueCertificate by user' });
    const text = await record.getByLabel('The record as stored').textContent();
    expect(JSON.parse(text!)).toMatchObject({
      eventName: 'HsmKms.IssueCertificate',
      errorCode: 'AccessDenied',
      errorMessage: expect.stringMatching(/user\/user is not authorized to perform: kms:Sign/),
    });
    await record.getByText(/node \S+, sequence \d+/).waitFor();
    await h.screenshot(page, '20-audit-record');
    await page.keyboard.press('Escape');
    await record.waitFor({ state: 'detached' });

    await page.getByLabel('Event name').fill('');
    // The exception name the console shows elsewhere finds the trail's AccessDenied too.
    await page.getByLabel('Error code').fill('AccessDeniedException');
    await page.getByRole('button', { name: 'Search' }).click();
    // Until the new answer arrives the table still shows the last search (allowed calls too).
    const shown = async () => ({
      issuances: await events.getByRole('row').filter({ hasText: 'HsmKms.IssueCertificate' }).count(),
      outcomes: [...new Set(await events.locator('tbody tr td[data-label="Outcome"]').allTextContents())],
    });
    await expect.poll(shown, { timeout: 15_000 }).toEqual({ issuances: expect.any(Number), outcomes: ['AccessDenied'] });
    expect((await shown()).issuances).toBeGreaterThanOrEqual(1);

    await page.getByLabel('Error code').fill('');
    await page.getByLabel('Event name').fill('HsmKms.RevokeCertificate');
    await page.getByRole('button', { name: 'Search' }).click();
    // The revocation by the issuer, once the new answer is shown (the last search's denied rows,
    // the issuer's refused DescribeKey calls among them, also name the issuer).
    await events.getByRole('row').filter({ hasText: 'HsmKms.RevokeCertificate' }).filter({ hasText: 'issuer' }).waitFor();
    await expect.poll(async () => [...new Set(await events.locator('tbody tr td[data-label="Outcome"]').allTextContents())], { timeout: 15_000 }).toEqual(['OK']);
  });

  it('is linked from a key’s page, filtered to that key', async () => {
    const page = tabs.auditor!;
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await nav(page, 'Keys');
    await page.getByRole('link', { name: 'alias/in-partition' }).click();
    await heading(page, 'alias/in-partition');
    const keyId = new URL(page.url()).pathname.split('/').pop()!;
    await page.getByRole('link', { name: 'Audit events for this key' }).click();
    await heading(page, 'Audit trail');
    expect(await page.getByLabel('Key (id, ARN or alias)').inputValue()).toBe(keyId);
    const events = page.getByRole('table', { name: 'Audit events' });
    await events.getByRole('row').filter({ hasText: 'CreateKey' }).waitFor();
    // Every event shown names that key.
    for (const cell of await events.locator('tbody tr td[data-label="Key"]').allTextContents()) expect(cell).toBe(keyId);
  });

  it('pages through the whole trail, newest first, without repeating an event', async () => {
    const page = tabs.auditor!;
    await page.getByRole('button', { name: 'Clear filters' }).click();
    const rows = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr');
    const older = page.getByRole('button', { name: 'Load older events' });
    await older.waitFor();
    const first = await rows.count();
    expect(first).toBeLessThanOrEqual(50);
    await older.click();
    await expect.poll(() => rows.count()).toBeGreaterThan(first);
    const ids = await rows.locator('td[data-label="Record"] button').allTextContents();
    expect(new Set(ids).size).toBe(ids.length);
    // One node here: its sequence numbers run down the list.
    const sequences = ids.map((id) => Number(id.slice(id.lastIndexOf(':') + 1)));
    expect(sequences).toEqual([...sequences].sort((a, b) => b - a));
  });
});

describe('idle sign-out', () => {
  it('warns, lets the person stay, then signs out and drops the credentials', async () => {
    const page = await h.newTab();
    await page.clock.install();
    await page.goto(`${h.origin}/console/`);
    await page.getByText('Region, endpoint and idle sign-out').click();
    await page.getByLabel('Sign out after this many minutes without activity').fill('1');
    await h.signIn(page, who.user!, true);
    await heading(page, 'Keys');

    await page.clock.fastForward('00:45');
    const warning = page.getByRole('dialog', { name: 'Still there?' });
    await warning.waitFor();
    await h.screenshot(page, '21-idle-warning');
    expect(await page.evaluate(ACTIVE_TEXT)).toBe('Stay signed in');
    await page.keyboard.press('Enter');
    await warning.waitFor({ state: 'detached' });
    await page.clock.fastForward('00:40');
    expect(await page.locator('.whoami-name').textContent()).toBe('user');

    await page.clock.fastForward('01:05');
    await page.getByText('You were signed out after 1 minute without activity').waitFor();
    await page.getByLabel('Access key ID').waitFor();
    expect(await page.getByLabel('Secret access key').inputValue()).toBe('');
    expect(await page.content()).not.toContain(who.user!.secretAccessKey);
    await page.close();
  });
});

describe('throughout', () => {
  it('made no request to any origin but its own, and no CSP violation or script error', () => {
    expect(h.requests.filter((url) => new URL(url).origin !== h.origin && !url.startsWith('blob:'))).toEqual([]);
    expect(h.problems).toEqual([]);
  });
});
