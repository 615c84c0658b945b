// MFA through @ackplus/nest-auth-client 2.11.1, header and cookie mode: TOTP set-up + verify +
// toggle on, sign-in through the MFA step (TOTP, e-mailed code read from the outbox, recovery
// code), trusted device, toggle off, devices, reset-totp.
// Tests whose routes authgate does not serve yet are skipped ("route not implemented yet");
// they turn on by themselves when the routes land.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { outboxMark, sharedServer, startAuthgate, waitForMessage } from '../lib/server.mjs';
import { startSmsSink } from '../lib/sms-sink.mjs';
import {
  MODES, PASSWORD, authError, claims, makeClient, needs, uniqueEmail,
} from '../lib/sdk.mjs';
import { Authenticator } from '../lib/totp.mjs';

const srv = await sharedServer();
after(() => srv.stop());

const TOTP = await needs(srv.url, 'POST /auth/mfa/setup-totp', 'POST /auth/mfa/verify-totp-setup',
  'GET /auth/mfa/devices', 'POST /auth/mfa/verify');
const VERIFY = await needs(srv.url, 'POST /auth/mfa/verify');
const RECOVERY = await needs(srv.url, 'POST /auth/mfa/generate-recovery-code', 'POST /auth/mfa/verify-recovery-code');
const PHONE = await needs(srv.url, 'POST /auth/send-phone-verification', 'POST /auth/verify-phone');
const RESET = await needs(srv.url, 'POST /auth/mfa/reset-totp', 'POST /auth/mfa/generate-recovery-code',
  'POST /auth/mfa/setup-totp', 'POST /auth/mfa/verify-totp-setup');

/** Verify the account's address through the SDK (code from the outbox): only a verified
 * address is a second factor. */
async function verifyEmail(c, email) {
  const seen = outboxMark(srv.dataDir);
  assert.equal((await c.client.sendEmailVerification()).message, 'Verification email sent');
  const msg = await waitForMessage(srv.dataDir, email, seen);
  assert.equal((await c.client.verifyEmail({ code: msg.code })).message, 'Email verified successfully');
}

/** E-mail MFA needs the challenge/verify routes and an e-mail channel (the outbox will do). */
async function emailMfa() {
  const routes = await needs(srv.url, 'POST /auth/mfa/challenge', 'POST /auth/mfa/verify',
    'POST /auth/send-email-verification', 'POST /auth/verify-email');
  if (routes.skip) return routes;
  const c = await makeClient(srv.url, 'header');
  const email = uniqueEmail('probe');
  await c.client.signup({ email, password: PASSWORD });
  assert.deepEqual((await c.client.getMfaStatus()).verifiedMethods, [],
    'an unverified address is no second factor');
  await verifyEmail(c, email);
  const st = await c.client.getMfaStatus();
  return st.verifiedMethods.includes('email') ? {} : { skip: 'no e-mail channel: email is not a verified MFA method' };
}
const EMAIL = await emailMfa();
/** Some way to switch MFA on and pass it: e-mail if possible, else an authenticator. */
const ANY_METHOD = !EMAIL.skip ? EMAIL : TOTP;
const both = (...gates) => gates.find((g) => g.skip) ?? {};

async function signedUp(mode, tag) {
  const c = await makeClient(srv.url, mode);
  const email = uniqueEmail(`${tag}-${mode}`);
  await c.client.signup({ email, password: PASSWORD });
  return { ...c, email };
}

/** Enrol an authenticator through the SDK; returns { setup, authenticator, device }. */
async function enrolTotp(c, deviceName = 'CI authenticator') {
  const setup = await c.client.setupTotp({ deviceName });
  const authenticator = Authenticator.fromSetup(setup);
  const done = await c.client.verifyTotpSetup({ secret: setup.secret, otp: await authenticator.code() });
  assert.equal(done.message, 'Device setup successfully');
  const [device] = (await c.client.listTotpDevices()).filter((d) => d.deviceName === deviceName);
  return { setup, authenticator, device };
}

/** Turn MFA on for `owner` with whatever method exists; returns how to pass the MFA step. */
async function enableMfa(owner) {
  let pass;
  if (!EMAIL.skip) {
    await verifyEmail(owner, owner.email);
    pass = { method: 'email', code: async (c) => emailedCode(c, owner.email) };
  } else {
    const { authenticator } = await enrolTotp(owner);
    pass = { method: 'totp', code: async () => authenticator.code() };
  }
  assert.equal((await owner.client.toggleMfa({ enabled: true })).message, 'MFA enabled successfully');
  return pass;
}

/** send2fa() (the SDK's default: e-mail) on a pending client, then the code from the outbox. */
async function emailedCode(c, email) {
  const seen = outboxMark(srv.dataDir);
  const sent = await c.client.send2fa();
  assert.equal(sent.message, 'MFA code sent successfully');
  const msg = await waitForMessage(srv.dataDir, email, seen);
  assert.ok(msg.code, `a code in the message:\n${msg.text}`);
  return msg.code;
}

async function loginPending(mode, email) {
  const c = await makeClient(srv.url, mode);
  const res = await c.client.login({ providerName: 'email', credentials: { email, password: PASSWORD } });
  return { ...c, email, res };
}

for (const mode of MODES) {
  describe(`${mode} mode`, () => {
    it('getMfaStatus reports the configured and usable methods', async () => {
      const a = await signedUp(mode, 'status');
      const st = await a.client.getMfaStatus();
      assert.equal(st.isEnabled, false);
      assert.ok(st.configuredMethods.length > 0);
      assert.ok(Array.isArray(st.verifiedMethods));
      assert.deepEqual(st.totpDevices, []);
      assert.equal(st.hasRecoveryCode, false);
      assert.equal(st.required, false);
      assert.equal(st.canToggle, true);
      if (st.verifiedMethods.length === 0) {
        await assert.rejects(a.client.toggleMfa({ enabled: true }),
          authError({ statusCode: 403, code: 'MFA_CANNOT_ENABLE_WITHOUT_METHOD' }));
      }
      assert.equal((await a.client.toggleMfa({ enabled: false })).message, 'MFA disabled successfully');
    });

    it('TOTP: set up, verify, toggle on, sign in with the authenticator, toggle off, remove', TOTP, async () => {
      const a = await signedUp(mode, 'totp');
      const setup = await a.client.setupTotp({ deviceName: 'CI authenticator' });
      assert.match(setup.secret, /^[A-Z2-7]{16,}=*$/);
      assert.match(setup.qrCode, /^data:image\/png;base64,/);
      assert.match(setup.otpAuthUrl, /^otpauth:\/\/totp\//);
      assert.equal(new URL(setup.otpAuthUrl).searchParams.get('secret'), setup.secret);
      assert.equal(setup.account, a.email);
      assert.ok(setup.issuer);
      const authenticator = Authenticator.fromSetup(setup);

      // A wrong code is 401 MFA_CODE_INVALID (contract §2.5). SDK quirk: every 401 on a normal
      // call makes it refresh and re-send, so the same wrong code arrives twice (and counts
      // twice against attempt limits). authgate keeps the contract's 401.
      const mark = a.log.length;
      await assert.rejects(a.client.verifyTotpSetup({ secret: setup.secret, otp: '000000' }),
        authError({ statusCode: 401, code: 'MFA_CODE_INVALID' }));
      assert.deepEqual(a.log.slice(mark).map((e) => `${new URL(e.url).pathname} ${e.status}`), [
        '/auth/mfa/verify-totp-setup 401', '/auth/refresh-token 200', '/auth/mfa/verify-totp-setup 401',
      ]);
      const ok = await a.client.verifyTotpSetup({ secret: setup.secret, otp: await authenticator.code() });
      assert.equal(ok.message, 'Device setup successfully');

      const devices = await a.client.listTotpDevices();
      assert.equal(devices.length, 1);
      assert.equal(devices[0].deviceName, 'CI authenticator');
      assert.equal(devices[0].method, 'totp');
      assert.equal(devices[0].verified, true);
      let st = await a.client.getMfaStatus();
      assert.ok(st.verifiedMethods.includes('totp'));
      assert.equal(st.isEnabled, false);

      assert.equal((await a.client.toggleMfa({ enabled: true })).message, 'MFA enabled successfully');
      st = await a.client.getMfaStatus();
      assert.equal(st.isEnabled, true);

      // Sign in: the SDK keeps the pending tokens but does not mark the client signed in.
      const b = await loginPending(mode, a.email);
      assert.equal(b.res.isRequiresMfa, true);
      assert.ok(b.res.mfaMethods.includes('totp'), JSON.stringify(b.res));
      assert.ok(b.res.mfaMethods.includes(b.res.defaultMfaMethod));
      assert.equal(b.client.getIsAuthenticated(), false);
      if (mode === 'header') {
        assert.equal(claims(await b.storage.get('access_token')).isMfaVerified, false);
      } else {
        assert.ok(b.jar.get('accessToken'));
      }
      // The pending token reaches skip-MFA routes only.
      assert.equal((await b.client.getMfaStatus()).isEnabled, true);
      await assert.rejects(b.client.toggleMfa({ enabled: false }),
        authError({ statusCode: 401, code: 'MFA_REQUIRED' }));

      const wrong = await loginPending(mode, a.email);
      await assert.rejects(wrong.client.verify2fa({ method: 'totp', otp: '000000' }),
        authError({ statusCode: 401, code: 'MFA_CODE_INVALID', kind: 'rejected' }));
      assert.equal(wrong.client.getIsAuthenticated(), false);

      const done = await b.client.verify2fa({ method: 'totp', otp: await authenticator.code() });
      assert.equal(done.message, '2FA verification successful');
      assert.equal(done.isRequiresMfa, false);
      assert.equal(b.client.getIsAuthenticated(), true);
      if (mode === 'header') assert.equal(claims(done.accessToken).isMfaVerified, true);
      else assert.equal(done.accessToken, undefined);
      const me = await b.client.getSessionUserData();
      assert.equal(me.isMfaEnabled, true);
      assert.equal((await b.client.verifySession()).valid, true);

      // Toggle off from the verified session; the next sign-in has no MFA step.
      assert.equal((await b.client.toggleMfa({ enabled: false })).message, 'MFA disabled successfully');
      const c = await loginPending(mode, a.email);
      assert.equal(c.res.isRequiresMfa, false);
      assert.equal(c.client.getIsAuthenticated(), true);

      const removed = await b.client.removeTotpDevice(devices[0].id);
      assert.equal(removed.message, 'MFA device removed successfully');
      assert.deepEqual(await b.client.listTotpDevices(), []);
    });

    it('sign in with a code e-mailed by send2fa (read from the outbox)', EMAIL, async () => {
      const a = await signedUp(mode, 'email');
      await verifyEmail(a, a.email);
      assert.equal((await a.client.toggleMfa({ enabled: true })).message, 'MFA enabled successfully');
      const b = await loginPending(mode, a.email);
      assert.equal(b.res.isRequiresMfa, true);
      assert.ok(b.res.mfaMethods.includes('email'));
      const code = await emailedCode(b, a.email);
      const done = await b.client.verify2fa({ method: 'email', otp: code });
      assert.equal(done.message, '2FA verification successful');
      assert.equal(b.client.getIsAuthenticated(), true);
      const me = await b.client.getSessionUserData();
      assert.ok(me.emailVerifiedAt, 'verified before it could serve as a second factor');

      // Codes are single-use.
      const c = await loginPending(mode, a.email);
      await assert.rejects(c.client.verify2fa({ method: 'email', otp: code }),
        (err) => err.statusCode >= 400 && err.statusCode < 500 && /CODE/.test(err.code));
      assert.equal(c.client.getIsAuthenticated(), false);
    });

    it('an MFA-pending session: verifySession() is valid and the SDK then calls itself signed in (SDK bug, documented)', ANY_METHOD, async () => {
      // Contract: verify-session (and me, mfa/status, …) accept MFA-pending tokens ("M"), so
      // authgate answers { valid: true }. The SDK takes that — and any successful refresh —
      // as "authenticated", so after a reload mid-MFA nest-auth-react shows the app as
      // signed in. The server still refuses every non-MFA route with 401 MFA_REQUIRED.
      const a = await signedUp(mode, 'pending');
      await enableMfa(a);
      const b = await loginPending(mode, a.email);
      assert.equal(b.client.getIsAuthenticated(), false);
      const v = await b.client.verifySession();
      assert.equal(v.valid, true);
      assert.equal(b.client.getIsAuthenticated(), true, 'SDK: pending session reported as authenticated');
      b.log.length = 0;
      await assert.rejects(b.client.toggleMfa({ enabled: false }), authError({ statusCode: 401, code: 'MFA_REQUIRED' }));
      // The 401 made the SDK refresh (authgate says isRequiresMfa: true there; the SDK ignores
      // it) and retry once.
      assert.deepEqual(b.log.map((e) => `${new URL(e.url).pathname} ${e.status}`),
        ['/auth/mfa/toggle 401', '/auth/refresh-token 200', '/auth/mfa/toggle 401']);
      assert.equal(b.log[1].data.isRequiresMfa, true);
    });

    it('sign in with a recovery code; a used code is refused', both(RECOVERY, ANY_METHOD), async () => {
      const a = await signedUp(mode, 'recovery');
      await enableMfa(a);
      const gen = await a.client.generateRecoveryCode();
      assert.equal(gen.codes.length, 10);
      assert.equal(gen.code, gen.codes[0]);
      assert.equal(new Set(gen.codes).size, 10);
      assert.equal((await a.client.getMfaStatus()).hasRecoveryCode, true);

      const b = await loginPending(mode, a.email);
      assert.equal(b.res.isRequiresMfa, true);
      const done = await b.client.verifyRecoveryCode({ code: gen.codes[1] });
      assert.equal(done.message, 'Recovery code verification successful');
      assert.equal(b.client.getIsAuthenticated(), true);
      assert.equal((await b.client.getSessionUserData()).email, a.email);

      const c = await loginPending(mode, a.email);
      await assert.rejects(c.client.verifyRecoveryCode({ code: gen.codes[1] }),
        authError({ statusCode: 401, code: 'MFA_RECOVERY_CODE_INVALID' }));
      assert.equal(c.client.getIsAuthenticated(), false);
    });

    it('trusted device: verify2fa({ trustDevice: true }) lets the next sign-in skip MFA', both(VERIFY, ANY_METHOD), async () => {
      const a = await signedUp(mode, 'trust');
      const pass = await enableMfa(a);

      const t = await loginPending(mode, a.email);
      assert.equal(t.res.isRequiresMfa, true);
      const done = await t.client.verify2fa({ method: pass.method, otp: await pass.code(t), trustDevice: true });
      assert.equal(done.isRequiresMfa, false);
      if (mode === 'header') {
        assert.match(done.trustToken, /^[A-Za-z0-9_-]{32,}$/);
        assert.equal(await t.storage.get('trust_token'), done.trustToken);
      } else {
        assert.equal(done.trustToken, undefined, 'cookie mode: the trust token is a cookie');
        const ck = t.jar.get('nest_auth_device_trust');
        assert.ok(ck, 'nest_auth_device_trust cookie');
        assert.equal(ck.httpOnly, true);
      }

      // Sign out and in again on the same "device": no MFA step.
      await t.client.logout();
      const again = await t.client.login({ providerName: 'email', credentials: { email: a.email, password: PASSWORD } });
      assert.equal(again.isRequiresMfa, false, JSON.stringify(again));
      assert.equal(t.client.getIsAuthenticated(), true);
      const loginReq = t.log.filter((e) => e.url.endsWith('/auth/login')).at(-1);
      if (mode === 'header') assert.equal(loginReq.headers.nest_auth_device_trust, done.trustToken);
      else assert.match(t.jar.header(), /nest_auth_device_trust=/);

      // Another device still gets the MFA step.
      const other = await loginPending(mode, a.email);
      assert.equal(other.res.isRequiresMfa, true);
    });

    it('resetMfa (reset-totp) with a recovery code removes the authenticators', RESET, async () => {
      const a = await signedUp(mode, 'reset');
      await enrolTotp(a);
      const { codes } = await a.client.generateRecoveryCode();
      assert.equal((await a.client.listTotpDevices()).length, 1);
      const res = await a.client.resetMfa(codes[0]);
      assert.equal(res.message, 'MFA reset successfully');
      assert.deepEqual(await a.client.listTotpDevices(), []);
      await assert.rejects(a.client.resetMfa(codes[0]), authError({ statusCode: 401, code: 'MFA_RECOVERY_CODE_INVALID' }));
    });
  });
}

// The SDK types send2fa's method as 'email' | 'phone' (contract §9.1); authgate reads 'phone'
// as 'sms'. A private server with an SMS channel pointing at a local Twilio-style sink.
// Started at load time (when the routes exist) so the start-up overlaps the other tests.
const smsSetup = VERIFY.skip ? null : (async () => {
  const sink = await startSmsSink();
  const server = await startAuthgate({
    name: 'authgate-sms',
    env: {
      AUTHGATE_PHONE_AUTH_ENABLED: 'true',
      AUTHGATE_MFA__METHODS: '["totp","email","sms"]',
      AUTHGATE_DELIVERY__SMS__URL: sink.url,
      AUTHGATE_DELIVERY__SMS__ACCOUNT_SID: 'AC-test',
      AUTHGATE_DELIVERY__SMS__AUTH_TOKEN: 'sms-token',
      AUTHGATE_DELIVERY__SMS__FROM_NUMBER: '+15550000000',
    },
  }).catch(async (err) => { await sink.close(); throw err; });
  return { sink, server };
})();
smsSetup?.catch(() => {}); // reported by the tests that await it
after(async () => {
  const s = await smsSetup?.catch(() => null);
  await s?.server.stop();
  await s?.sink.close();
});

describe('SMS (private server, SMS channel = a local Twilio-style sink)', { ...VERIFY, concurrency: true }, () => {
  const ready = () => smsSetup;

  for (const [i, mode] of MODES.entries()) {
    it(`${mode} mode: send2fa('phone') sends an SMS code, verify2fa({ method: 'sms' })`, async () => {
      const { sink, server } = await ready();
      const a = await makeClient(server.url, mode);
      const email = uniqueEmail(`sms-${mode}`);
      const phone = `+1555010${String(1000 + i + (process.pid % 900)).slice(-4)}`;
      await a.client.signup({ email, phone, password: PASSWORD });
      assert.ok(!(await a.client.getMfaStatus()).verifiedMethods.includes('sms'),
        'an unverified number is no second factor');
      const sent = sink.messages.length;
      assert.equal((await a.client.sendPhoneVerification()).message, 'Verification SMS sent');
      const proof = await sink.waitForCode(phone, sent);
      assert.equal((await a.client.verifyPhone({ code: proof.code })).message, 'Phone verified successfully');
      assert.ok((await a.client.getMfaStatus()).verifiedMethods.includes('sms'));
      await a.client.toggleMfa({ enabled: true });

      const b = await makeClient(server.url, mode);
      const res = await b.client.login({ providerName: 'email', credentials: { email, password: PASSWORD } });
      assert.deepEqual(res.mfaMethods.filter((m) => m === 'sms'), ['sms']);
      const mark = sink.messages.length;
      assert.equal((await b.client.send2fa('phone')).message, 'MFA code sent successfully');
      const msg = await sink.waitForCode(phone, mark);
      assert.equal(msg.from, '+15550000000');
      assert.equal(msg.auth, `Basic ${Buffer.from('AC-test:sms-token').toString('base64')}`);
      const done = await b.client.verify2fa({ method: 'sms', otp: msg.code });
      assert.equal(done.isRequiresMfa, false);
      assert.equal(b.client.getIsAuthenticated(), true);
      assert.ok((await b.client.getSessionUserData()).phoneVerifiedAt);
    });
  }

  for (const mode of MODES) {
    it(`${mode} mode: sendPhoneVerification → verifyPhone`, PHONE, async () => {
      const { sink, server } = await ready();
      const a = await makeClient(server.url, mode);
      const phone = `+1555020${String(1000 + (process.pid % 900) + (mode === 'cookie' ? 1 : 0)).slice(-4)}`;
      await a.client.signup({ email: uniqueEmail(`phone-${mode}`), phone, password: PASSWORD });
      assert.equal((await a.client.getSessionUserData()).phoneVerifiedAt, null);
      const mark = sink.messages.length;
      assert.equal((await a.client.sendPhoneVerification()).message, 'Verification SMS sent');
      const { code } = await sink.waitForCode(phone, mark);
      assert.equal((await a.client.verifyPhone({ code })).message, 'Phone verified successfully');
      assert.ok((await a.client.getSessionUserData()).phoneVerifiedAt);
    });
  }
});
