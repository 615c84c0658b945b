// The React page (web/, @ackplus/nest-auth-react) in Debian's Chromium through playwright-core:
// sign in, complete MFA, see the protected view, reload and stay signed in, sign out.
// Screenshots of every step: artifacts/browser/<mode>-<flow>/NN-<step>.png (git-ignored).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { MODES, PASSWORD, makeClient, needs, uniqueEmail } from '../lib/sdk.mjs';
import { outboxMark, sharedServer, waitForMessage } from '../lib/server.mjs';
import { Authenticator } from '../lib/totp.mjs';
import { startWebServer } from '../web/serve.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(HERE, '..', 'artifacts', 'browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const srv = await sharedServer();
after(() => srv.stop());

// Which MFA method the page can complete on this authgate (routes land one by one).
async function mfaPlan() {
  const email = await needs(srv.url, 'POST /auth/mfa/challenge', 'POST /auth/mfa/verify');
  if (!email.skip) {
    const c = await makeClient(srv.url, 'header');
    await c.client.signup({ email: uniqueEmail('probe'), password: PASSWORD });
    const st = await c.client.getMfaStatus();
    if (st.verifiedMethods.includes('email')) return { method: 'email' };
  }
  const totp = await needs(srv.url, 'POST /auth/mfa/setup-totp', 'POST /auth/mfa/verify-totp-setup', 'POST /auth/mfa/verify');
  if (!totp.skip) return { method: 'totp' };
  return { skip: email.skip ?? 'route not implemented yet: e-mail MFA channel' };
}
const plan = await mfaPlan();

let web;
before(async () => { web = await startWebServer(srv.url); });
after(() => web?.close());

/** A fresh Chromium profile per test; returns { page, shot(name), problems }. */
async function openPage(t, label) {
  const profile = mkdtempSync(join(tmpdir(), 'authgate-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 900, height: 720 },
  });
  t.after(async () => { await ctx.close(); rmSync(profile, { recursive: true, force: true }); });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium logs every non-2xx response as "Failed to load resource"; the expected 401s
    // (verify-session while signed out) are asserted through `api` instead.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
  });
  const api = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/auth/')) api.push(`${r.request().method()} ${u.pathname} ${r.status()}`);
  });
  const dir = join(ARTIFACTS, label);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const shot = async (name) => {
    n += 1;
    await page.screenshot({ path: join(dir, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
  t.after(() => { if (problems.length) t.diagnostic(problems.join('\n')); t.diagnostic(api.join('\n')); });
  return { ctx, page, shot, problems, api };
}

async function signIn(page, email) {
  await page.getByTestId('login-form').waitFor();
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
}

async function expectProtected(page, email) {
  await page.getByTestId('protected').waitFor();
  assert.equal(await page.getByTestId('user-email').textContent(), email);
  await page.getByTestId('user-row').filter({ hasText: 'active=true' }).waitFor();
  assert.equal(await page.getByTestId('status').textContent(), 'authenticated');
}

async function expectSignedOut(page) {
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('signed-out').waitFor();
  assert.equal(await page.getByTestId('status').textContent(), 'unauthenticated');
}

async function storedCredentials(ctx, page, mode) {
  if (mode === 'cookie') {
    const names = (await ctx.cookies()).map((c) => c.name);
    return names.filter((n) => n === 'accessToken' || n === 'refreshToken');
  }
  return page.evaluate(() => Object.keys(localStorage).filter((k) => /access_token|refresh_token/.test(k)));
}

// Four independent browsers (fresh profiles, distinct users): run them side by side.
describe('browser', { concurrency: 4 }, () => {
  for (const mode of MODES) {
    describe(`${mode} mode`, { concurrency: true }, () => {
      it('password sign-in → protected view → reload → sign out', async (t) => {
        const email = uniqueEmail(`web-${mode}`);
        await (await makeClient(srv.url, 'header')).client.signup({ email, password: PASSWORD });
        const { ctx, page, shot, problems, api } = await openPage(t, `${mode}-password`);

        await page.goto(`${web.url}/?mode=${mode}`);
        await signIn(page, email);
        await shot('login-form');
        await page.click('button[type=submit]');
        await expectProtected(page, email);
        await shot('protected');
        assert.equal((await storedCredentials(ctx, page, mode)).length, 2);

        await page.reload();
        await expectProtected(page, email);
        await shot('after-reload');

        await page.getByTestId('logout').click();
        await expectSignedOut(page);
        await shot('signed-out');
        assert.ok(api.includes('POST /auth/logout 200'), api.join('\n'));
        assert.deepEqual(await storedCredentials(ctx, page, mode), []);

        await page.reload();
        await expectSignedOut(page);
        assert.deepEqual(problems, []);
      });

      it('sign-in through the MFA step → protected view → reload → sign out', plan, async (t) => {
        const email = uniqueEmail(`web-mfa-${mode}`);
        const setup = await makeClient(srv.url, 'header');
        await setup.client.signup({ email, password: PASSWORD });
        let authenticator;
        if (plan.method === 'totp') {
          const s = await setup.client.setupTotp({ deviceName: 'browser test' });
          authenticator = Authenticator.fromSetup(s);
          await setup.client.verifyTotpSetup({ secret: s.secret, otp: await authenticator.code() });
        }
        await setup.client.toggleMfa({ enabled: true });

        const { ctx, page, shot, problems, api } = await openPage(t, `${mode}-mfa-${plan.method}`);
        await page.goto(`${web.url}/?mode=${mode}`);
        await signIn(page, email);
        await shot('login-form');
        await page.click('button[type=submit]');
        await page.getByTestId('mfa-step').waitFor();
        assert.equal(await page.getByTestId('status').textContent(), 'unauthenticated');
        await page.check(`input[name=method][value=${plan.method}]`);
        await shot('mfa-step');

        let code;
        if (plan.method === 'email') {
          const seen = outboxMark(srv.dataDir);
          await page.getByTestId('send-code').click();
          await page.getByTestId('code-sent').waitFor();
          ({ code } = await waitForMessage(srv.dataDir, email, seen));
        } else {
          code = await authenticator.code();
        }
        await page.fill('input[name=code]', code);
        await shot('mfa-code-entered');
        await page.click('button[type=submit]');
        await expectProtected(page, email);
        assert.equal(await page.getByTestId('user-mfa').textContent(), 'true');
        await shot('protected');

        await page.reload();
        await expectProtected(page, email);
        await shot('after-reload');
        assert.equal((await storedCredentials(ctx, page, mode)).length, 2);

        await page.getByTestId('logout').click();
        await expectSignedOut(page);
        await shot('signed-out');
        assert.deepEqual(await storedCredentials(ctx, page, mode), []);
        assert.ok(api.includes('POST /auth/mfa/verify 200'), api.join('\n'));
        assert.deepEqual(problems, []);
      });
    });
  }
});
