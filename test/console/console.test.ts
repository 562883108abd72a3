/**
 * The web console end to end: the built console (dist/console) served by the real service on the
 * run's SoftHSM2 token, driven in Debian's headless Chromium by playwright-core (no browser
 * download). One browser for the file; each principal signs in in a tab of its own, since a
 * session lives in its tab's memory only.
 *
 * Flows: sign in with a principal's access key; create a key; edit its policy and see explain's
 * answer change; a quorum-guarded deletion approved by a second principal; a CryptoUser sees no
 * principal management; an Auditor is refused key creation and sees the service's reason; a
 * CryptoOfficer creates a principal and sees its secret once; keyboard use (skip link, dialogs).
 * Every page is saved as a screenshot at 1280×800 and at phone width under test-results/console/.
 * Throughout, every request the browser makes is recorded: none may leave the page's origin, and
 * no CSP violation or script error may occur.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { CreateKeyCommand, KMSClient, UpdateKeyDescriptionCommand } from '@aws-sdk/client-kms';
import { CONSOLE_CSP } from '../../src/http/console-route.js';
import { ACTIVE_TEXT, FOCUS_IN_DIALOG, heading, startConsole, type ConsoleHarness, type Principal } from './harness.js';

let h: ConsoleHarness;
let origin: string;
let principals: Record<string, Principal>;
const newTab = (watch?: boolean) => h.newTab(watch);
const signIn = (page: Page, who: Principal, here?: boolean) => h.signIn(page, who, here);
const screenshot = (page: Page, name: string) => h.screenshot(page, name);

beforeAll(async () => {
  h = await startConsole();
  origin = h.origin;
  principals = h.principals;
  const officer = await h.createPrincipal(h.root, 'officer', ['CryptoOfficer']);
  const admin = h.clientFor(officer);
  // alice creates keys (CryptoUser) and may explain decisions (Auditor); bob is who she asks about.
  await h.createPrincipal(admin, 'alice', ['Auditor', 'CryptoUser']);
  await h.createPrincipal(admin, 'bob', ['CryptoUser']);
  await h.createPrincipal(admin, 'carol', ['CryptoUser']);
  await h.createPrincipal(admin, 'auditor', ['Auditor']);
  await admin.call('PutQuorumRule', { Action: 'kms:ScheduleKeyDeletion', MinApprovals: 1, Approvers: ['carol'] });
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('the web console', () => {
  it('is served with a strict Content-Security-Policy and the other security headers', async () => {
    const response = await fetch(`${origin}/console/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style="/);
  });

  it('enforces that policy in the page: no HTML from strings, no inline style, no connection elsewhere', async () => {
    // A tab of its own, outside the run's request and error records: these refusals are wanted.
    const probe = await newTab(false);
    await probe.goto(`${origin}/console/`);
    await heading(probe, 'hsmkms console');
    const outcome = await probe.evaluate(`(async () => {
      const violations = [];
      document.addEventListener('securitypolicyviolation', (event) => violations.push(event.effectiveDirective));
      let html = 'allowed';
      try {
        document.createElement('div').innerHTML = '<b>built from a string</b>';
      } catch (error) {
        html = error.name;
      }
      const style = document.createElement('style');
      style.textContent = 'body { color: red }';
      document.head.append(style);
      let fetched = 'allowed';
      try {
        await fetch('http://127.0.0.2:9/');
      } catch (error) {
        fetched = error.name;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { html, fetched, violations: [...new Set(violations)].sort() };
    })()`);
    expect(outcome).toEqual({ html: 'TypeError', fetched: 'TypeError', violations: ['connect-src', 'require-trusted-types-for', 'style-src-elem'] });
    await probe.close();
  });

  let keyId: string;
  let alice: Page;

  it('signs a principal in with its access key, then creates a key with progress', async () => {
    alice = await newTab();
    await alice.goto(`${origin}/console/`);
    await heading(alice, 'hsmkms console');
    await screenshot(alice, '01-sign-in');
    // A wrong secret is refused with the service's own error name.
    await alice.getByLabel('Access key ID').fill(principals.alice!.accessKeyId);
    await alice.getByLabel('Secret access key').fill('not-the-secret');
    await alice.getByRole('button', { name: 'Sign in' }).click();
    await alice.getByRole('alert').filter({ hasText: 'InvalidSignatureException' }).waitFor();

    await signIn(alice, principals.alice!);
    await heading(alice, 'Keys');
    expect(await alice.locator('.whoami-roles').textContent()).toBe('(Auditor, CryptoUser)');
    // The credentials live in the tab's memory only: no storage, no cookie, nothing in the page.
    expect(await alice.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })')).toEqual({
      local: 0,
      session: 0,
      cookie: '',
    });
    expect(await h.context.cookies()).toEqual([]);
    expect(await alice.content()).not.toContain(principals.alice!.secretAccessKey);
    await alice.getByRole('button', { name: 'Create key' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Create key' });
    await dialog.getByLabel('Alias (optional)').fill('e2e/payments');
    await dialog.getByLabel('Description (optional)').fill('made by the console test');
    await screenshot(alice, '02-create-key-dialog');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const created = alice.getByRole('status').getByRole('link', { name: 'alias/e2e/payments' });
    await created.waitFor();
    await alice.getByRole('row', { name: /alias\/e2e\/payments/ }).getByText('Enabled').waitFor();
    await screenshot(alice, '03-keys');
    await created.click();
    await heading(alice, 'alias/e2e/payments');
    keyId = new URL(alice.url()).pathname.split('/').pop()!;
    expect(keyId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('validates the key policy as it is typed, and explain’s answer changes when the policy does', async () => {
    await alice.getByRole('heading', { level: 2, name: 'Key policy' }).waitFor();
    const explain = alice.locator('#explain');
    await explain.getByLabel('Principal (user name or ARN)').fill('bob');
    await explain.getByLabel('Action').fill('kms:Decrypt');
    await explain.getByRole('button', { name: 'Explain' }).click();
    await explain.locator('.decision-value', { hasText: 'ImplicitDeny' }).waitFor();

    const editor = alice.getByLabel('Key policy document (JSON)');
    const policy = JSON.parse(await editor.inputValue()) as { Version: string; Statement: object[] };
    await editor.fill('{"Version": "2012-10-17", "Statement": [');
    await alice.locator('.policy-status', { hasText: 'Not valid JSON' }).waitFor();
    await editor.fill(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: principals.bob!.arn }, Action: 'kms:Decrypt' }] }));
    await alice.locator('.policy-status', { hasText: 'MalformedPolicyDocumentException' }).waitFor();
    expect(await alice.getByRole('button', { name: 'Save key policy' }).isDisabled()).toBe(true);
    policy.Statement.push({ Sid: 'BobMayDecrypt', Effect: 'Allow', Principal: { AWS: principals.bob!.arn }, Action: 'kms:Decrypt', Resource: '*' });
    await editor.fill(JSON.stringify(policy, null, 2));
    await alice.locator('.policy-status', { hasText: 'Valid key policy' }).waitFor();
    await screenshot(alice, '04-key-detail');
    await alice.getByRole('button', { name: 'Save key policy' }).click();
    await alice.getByText('Key policy saved.').waitFor();
    // Explained again on its own, now with the statement that decides.
    await explain.locator('.decision-value', { hasText: /^Allow$/ }).waitFor();
    await explain.getByText('explained again after the key policy changed').waitFor();
    expect(await explain.locator('.row-decisive').textContent()).toContain('BobMayDecrypt');
    await explain.scrollIntoViewIfNeeded();
    await screenshot(alice, '05-explain');
  });

  it('shows an approver the parameters of a call with the requester\'s bidirectional controls escaped', async () => {
    // The requester chooses the values; a right-to-left override in one reordered what the approver read.
    const kms = new KMSClient({ endpoint: h.server.endpoint, region: h.server.region, credentials: principals.alice!, maxAttempts: 1 });
    const KeyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await h.clientFor(principals.officer!).call('PutQuorumRule', { Action: 'kms:UpdateKeyDescription', KeyId, MinApprovals: 1, Approvers: ['carol'] });
    const Description = 'invoice \u202Eexe.fdp';
    const id = await kms.send(new UpdateKeyDescriptionCommand({ KeyId, Description })).then(
      () => undefined,
      (error: { ApprovalRequestId?: string }) => error.ApprovalRequestId,
    );
    expect(id).toMatch(/^ar-/);
    kms.destroy();
    const carol = await newTab();
    await signIn(carol, principals.carol!);
    await carol.getByRole('link', { name: 'Approvals' }).click();
    await heading(carol, 'Approvals');
    const card = carol.getByRole('article').filter({ hasText: id! });
    await card.getByText('Parameters of the call').click();
    const shown = (await card.locator('pre').textContent()) ?? '';
    expect(shown).toContain('"Description": "invoice \\u202eexe.fdp"');
    expect(shown).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    await h.clientFor(principals.carol!).call('RejectRequest', { ApprovalRequestId: id });
    await carol.close();
  });

  it('shows a key\'s caller-chosen description, tags and policy with control and bidirectional characters escaped', async () => {
    // Anyone who may create a key chooses these; raw, U+202E reorders the page and ESC hides in it.
    const kms = new KMSClient({ endpoint: h.server.endpoint, region: h.server.region, credentials: principals.alice!, maxAttempts: 1 });
    const Description = 'report \u202Efdp.exe \u001b[2J';
    const Tags = [{ TagKey: 'owner\u2066', TagValue: 'team \u202Eb\u001b]0;pwned\u0007' }];
    const KeyId = (await kms.send(new CreateKeyCommand({ Description, Tags }))).KeyMetadata!.KeyId!;
    kms.destroy();
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    const page = await newTab();
    await signIn(page, principals.alice!);
    await heading(page, 'Keys');
    await page.getByLabel('Alias, id or description').fill(KeyId);
    const row = page.getByRole('row', { name: new RegExp(KeyId) });
    // The row comes from ListKeys and its description from a DescribeKey of its own, a moment later.
    const cell = row.locator('td[data-label="Description"]');
    await cell.filter({ hasNotText: '—' }).waitFor();
    expect(await cell.textContent()).toBe('report \\u202efdp.exe \\u001b[2J');
    await row.getByRole('link').first().click();
    await page.getByRole('heading', { level: 2, name: 'Key policy' }).waitFor();
    await page.getByText('team \\u202eb\\u001b]0;pwned\\u0007').first().waitFor();
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('report \\u202efdp.exe \\u001b[2J');
    expect(text).toContain('owner\\u2066');
    expect(text).not.toMatch(raw);
    await page.close();
  });

  let approvalRequestId: string;

  it('runs a quorum-guarded deletion once a second principal approved it in its own tab', async () => {
    await alice.locator('#details').getByRole('button', { name: /Schedule deletion of/ }).click();
    let dialog = alice.getByRole('dialog', { name: /Schedule deletion of/ });
    await dialog.getByLabel(/I understand/).check();
    await dialog.getByRole('button', { name: 'Schedule deletion' }).click();
    const refusal = dialog.getByRole('alert').filter({ hasText: 'QuorumApprovalRequiredException' });
    await refusal.waitFor();
    approvalRequestId = (await refusal.locator('code').first().textContent())!;
    expect(approvalRequestId).toMatch(/^ar-[0-9a-f]{32}$/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    const carol = await newTab();
    await signIn(carol, principals.carol!);
    await carol.getByRole('link', { name: 'Approvals' }).click();
    await heading(carol, 'Approvals');
    const card = carol.getByRole('article').filter({ hasText: approvalRequestId });
    await card.getByText('0 of 1 approvals').waitFor();
    // What the approval allows: the action next to the operation and the key.
    await card.getByText('kms:ScheduleKeyDeletion', { exact: true }).waitFor();
    await screenshot(carol, '06-approvals');
    await card.getByRole('button', { name: 'Approve' }).click();
    await carol.getByRole('dialog', { name: /Approve ScheduleKeyDeletion/ }).getByRole('button', { name: 'Approve' }).click();
    await carol.getByText(`Approved ${approvalRequestId}: it is now Approved.`).waitFor();

    // A CryptoUser sees no principal management, not even by following a link.
    expect(await carol.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents()).toEqual(['Keys', 'Key stores', 'Certificates', 'Approvals']);
    await carol.goto(`${origin}/console/principals`);
    // A reload drops the session: the credentials were in the tab's memory only.
    await carol.getByLabel('Access key ID').waitFor();
    await signIn(carol, principals.carol!, true);
    await heading(carol, 'Not available');
    await carol.getByText('Principals and roles are managed by CryptoOfficers').waitFor();
    await carol.getByRole('button', { name: 'Sign out' }).click();
    await carol.getByLabel('Access key ID').waitFor();
    expect(await carol.getByLabel('Secret access key').inputValue()).toBe('');
    await carol.close();

    // The same call, unchanged, now succeeds (once).
    await alice.locator('#details').getByRole('button', { name: /Schedule deletion of/ }).click();
    dialog = alice.getByRole('dialog', { name: /Schedule deletion of/ });
    await dialog.getByLabel(/I understand/).check();
    await dialog.getByRole('button', { name: 'Schedule deletion' }).click();
    await alice.getByText('is scheduled for deletion in 30 days').waitFor();
    await alice.locator('#details').getByText('PendingDeletion').first().waitFor();
  });

  it('refuses key creation to an Auditor with the service’s AccessDeniedException, word for word', async () => {
    const auditor = await newTab();
    await signIn(auditor, principals.auditor!);
    await heading(auditor, 'Keys');
    // The Auditor can describe every key, alice's included.
    await auditor.getByRole('row', { name: /alias\/e2e\/payments/ }).getByText('PendingDeletion').waitFor().catch(async (error: unknown) => {
      console.log(await auditor.locator('main').innerText());
      throw error;
    });
    await auditor.getByRole('button', { name: 'Create key' }).click();
    const dialog = auditor.getByRole('dialog', { name: 'Create key' });
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    expect(await alert.locator('.error-name').textContent()).toBe('AccessDeniedException');
    expect(await alert.locator('.error-message').textContent()).toMatch(
      new RegExp(`^User: ${principals.auditor!.arn.replace(/[/.]/g, '\\$&')} is not authorized to perform: kms:CreateKey`),
    );
    await screenshot(auditor, '07-auditor-refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await auditor.close();
  });

  it('lets a CryptoOfficer create a principal and shows its secret once', async () => {
    const officer = await newTab();
    await signIn(officer, principals.officer!);
    await officer.getByRole('link', { name: 'Principals' }).click();
    await heading(officer, 'Principals');
    await officer.getByRole('row', { name: /alice/ }).waitFor();
    await screenshot(officer, '08-principals');
    await officer.getByRole('button', { name: 'Create principal' }).click();
    const dialog = officer.getByRole('dialog', { name: 'Create principal' });
    await dialog.getByLabel('User name').fill('dave');
    await dialog.getByLabel('CryptoOfficer').check();
    // The server's own rule, checked as the boxes change.
    await dialog.getByText('A principal cannot be both CryptoOfficer and CryptoUser').waitFor();
    await dialog.getByLabel('CryptoUser').uncheck();
    await dialog.getByRole('button', { name: 'Create principal' }).click();
    const secret = officer.getByRole('dialog', { name: 'Principal created' });
    const secretValue = await secret.getByLabel('Secret access key').inputValue();
    expect(secretValue).toMatch(/^[A-Za-z0-9+/]{40}$/);
    await screenshot(officer, '09-secret-once');
    await secret.getByRole('button', { name: 'I have stored the secret' }).click();
    expect(await officer.content()).not.toContain(secretValue);
    await officer.getByRole('link', { name: 'dave' }).click();
    await heading(officer, 'dave');
    await officer.getByRole('heading', { level: 2, name: 'Access keys' }).waitFor();
    await screenshot(officer, '10-principal-detail');
    await officer.close();
  });

  it('works from the keyboard: skip link first, dialogs trap focus and close on Escape', async () => {
    await alice.goto(`${origin}/console/`);
    await signIn(alice, principals.alice!);
    await heading(alice, 'Keys');
    await alice.keyboard.press('Tab');
    expect(await alice.evaluate(ACTIVE_TEXT)).toBe('Skip to content');
    await alice.keyboard.press('Enter');
    expect(await alice.evaluate('document.activeElement?.id')).toBe('main');

    await alice.getByRole('button', { name: 'Create key' }).focus();
    await alice.keyboard.press('Enter');
    const dialog = alice.getByRole('dialog', { name: 'Create key' });
    await dialog.waitFor();
    expect(await alice.evaluate(FOCUS_IN_DIALOG)).toBe(true);
    for (let i = 0; i < 12; i++) {
      await alice.keyboard.press(i % 3 === 2 ? 'Shift+Tab' : 'Tab');
      expect(await alice.evaluate(FOCUS_IN_DIALOG)).toBe(true);
    }
    await alice.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await alice.evaluate(ACTIVE_TEXT)).toBe('Create key');
  });

  it('made no request to any origin but its own, and no CSP violation or script error', () => {
    expect(h.requests.length).toBeGreaterThan(20);
    expect(h.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(h.problems).toEqual([]);
  });
});
