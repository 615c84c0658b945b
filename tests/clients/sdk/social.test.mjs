// Social sign-in through @ackplus/nest-auth-client 2.11.1's one social helper,
// `socialLogin(provider, token, opts)` (a POST /auth/login with providerName + credentials;
// the SDK has no code-flow or popup helper), in header and cookie mode, against a private
// authgate whose Google, GitHub and generic OIDC (`corp`) providers point at a real local
// provider (lib/idp.mjs: discovery, JWKS, RS256 ID tokens; a GitHub-style API).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startIdp } from '../lib/idp.mjs';
import { startAuthgate } from '../lib/server.mjs';
import { MODES, PASSWORD, authError, claims, makeClient, uniqueEmail } from '../lib/sdk.mjs';
import { Authenticator } from '../lib/totp.mjs';

const idp = await startIdp();
const srv = await startAuthgate({ name: 'authgate-social', env: idp.env() });
after(async () => { await srv.stop(); await idp.stop(); });

let subjects = 0;
const subject = () => `sub-${process.pid}-${Date.now().toString(36)}-${++subjects}`;

/** The session the SDK now holds, whatever the mode. */
async function signedInAs(c, email) {
  const me = await c.client.getSessionUserData();
  assert.equal(me.email, email);
  if (c.mode === 'header') {
    assert.equal(claims(c.client.getSession().accessToken).sub, me.id);
  } else {
    assert.ok(c.jar.value('accessToken') ?? c.jar.value('__Host-accessToken'), 'access cookie set');
  }
  return me;
}

describe('client-config', () => {
  it('announces the configured providers to the SDK', async () => {
    const c = await makeClient(srv.url, 'header');
    const cfg = await c.client.getClientConfig();
    assert.equal(cfg.google?.enabled, true);
    assert.equal(cfg.google?.clientId, 'sdk-test-client');
    assert.equal(cfg.github?.enabled, true);
    assert.equal(cfg.facebook?.enabled, false);
    assert.ok(cfg.customProviders.includes('corp'), JSON.stringify(cfg.customProviders));
  });
});

for (const mode of MODES) {
  describe(`${mode} mode`, () => {
    it('socialLogin("google", idToken) creates the account, then signs the same account in', async () => {
      const email = uniqueEmail(`google-${mode}`);
      const sub = subject();
      const first = await makeClient(srv.url, mode);
      const res = await first.client.socialLogin('google', idp.idToken({ sub, email }), { type: 'idToken' });
      assert.equal(res.isRequiresMfa, false);
      assert.equal(res.message, 'Login successful');
      const me = await signedInAs(first, email);
      assert.ok(me.emailVerifiedAt, 'the provider verified the address');

      const again = await makeClient(srv.url, mode);
      await again.client.socialLogin('google', idp.idToken({ sub, email }), { type: 'idToken' });
      assert.equal((await signedInAs(again, email)).id, me.id, 'the same provider subject, the same account');
    });

    it('socialLogin("github", accessToken) signs in with the primary verified address', async () => {
      const email = uniqueEmail(`github-${mode}`);
      const token = idp.githubToken({ id: 4000 + subjects++, emails: [
        { email: `other-${email}`, primary: false, verified: true },
        { email, primary: true, verified: true },
      ] });
      const c = await makeClient(srv.url, mode);
      const res = await c.client.socialLogin('github', token, { type: 'accessToken' });
      assert.equal(res.isRequiresMfa, false);
      await signedInAs(c, email);
    });

    it('a generic OpenID Connect provider is a providerName like any other', async () => {
      const email = uniqueEmail(`corp-${mode}`);
      const c = await makeClient(srv.url, mode);
      await c.client.socialLogin('corp', idp.idToken({ sub: subject(), email }));
      await signedInAs(c, email);
    });

    it('refusals reach the SDK as coded errors and leave it signed out', async () => {
      const c = await makeClient(srv.url, mode);
      const email = uniqueEmail(`refused-${mode}`);
      await assert.rejects(c.client.socialLogin('google', idp.idToken({ sub: subject(), email, aud: 'another-app' })),
        authError({ statusCode: 401, code: 'OAUTH_PROVIDER_ERROR' }));
      await assert.rejects(c.client.socialLogin('google', idp.idToken({ sub: subject(), email, expIn: -120 })),
        authError({ statusCode: 401, code: 'OAUTH_PROVIDER_ERROR' }));
      const forged = idp.idToken({ sub: subject(), email }).replace(/\.[^.]+$/, '.AAAA');
      await assert.rejects(c.client.socialLogin('google', forged),
        authError({ statusCode: 401, code: 'OAUTH_PROVIDER_ERROR' }));
      await assert.rejects(c.client.socialLogin('google', idp.idToken({ sub: subject(), email }), { createUserIfNotExists: false }),
        authError({ statusCode: 401, code: 'INVALID_CREDENTIALS' }));
      const hidden = idp.githubToken({ id: 9000 + subjects++, emails: [{ email, primary: true, verified: false }] });
      await assert.rejects(c.client.socialLogin('github', hidden, { type: 'accessToken' }),
        authError({ statusCode: 401, code: 'OAUTH_EMAIL_NOT_PUBLIC' }));
      await assert.rejects(c.client.socialLogin('github', 'gho_not-issued', { type: 'accessToken' }),
        authError({ statusCode: 401, code: 'OAUTH_PROVIDER_ERROR' }));
      await assert.rejects(c.client.socialLogin('facebook', 'EAAB-anything', { type: 'accessToken' }),
        authError({ statusCode: 401, code: 'INVALID_PROVIDER' }));
      await assert.rejects(c.client.getSessionUserData(), authError({ statusCode: 401 }));
    });

    it('an unverified provider address never takes over an existing password account', async () => {
      const email = uniqueEmail(`owner-${mode}`);
      const owner = await makeClient(srv.url, mode);
      await owner.client.signup({ email, password: PASSWORD });
      const c = await makeClient(srv.url, mode);
      await assert.rejects(c.client.socialLogin('google', idp.idToken({ sub: subject(), email, emailVerified: false })),
        authError({ statusCode: 401, code: 'SOCIAL_EMAIL_NOT_VERIFIED' }));
    });

    it('an account with MFA on goes through the MFA step after socialLogin', async () => {
      const email = uniqueEmail(`mfa-${mode}`);
      const sub = subject();
      const owner = await makeClient(srv.url, mode);
      await owner.client.socialLogin('google', idp.idToken({ sub, email }));
      const setup = await owner.client.setupTotp({ deviceName: 'phone' });
      const authenticator = Authenticator.fromSetup(setup);
      await owner.client.verifyTotpSetup({ secret: setup.secret, otp: await authenticator.code() });
      assert.equal((await owner.client.toggleMfa({ enabled: true })).message, 'MFA enabled successfully');

      const c = await makeClient(srv.url, mode);
      const res = await c.client.socialLogin('google', idp.idToken({ sub, email }));
      assert.equal(res.isRequiresMfa, true);
      assert.ok(res.mfaMethods.includes('totp'));
      await assert.rejects(c.client.toggleMfa({ enabled: false }), authError({ statusCode: 401, code: 'MFA_REQUIRED' }));
      const done = await c.client.verify2fa({ method: 'totp', otp: await authenticator.code() });
      assert.equal(done.isRequiresMfa, false);
      await signedInAs(c, email);
    });
  });
}
