// Signup, login, the current user, refresh (explicit and the SDK's own), logout, logout-all,
// through @ackplus/nest-auth-client 2.11.1, in header mode and in cookie mode (with CSRF).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sharedServer, startAuthgate } from '../lib/server.mjs';
import {
  MODES, PASSWORD, authError, claims, makeClient, raw, uniqueEmail,
} from '../lib/sdk.mjs';

const srv = await sharedServer();
// Private servers for two tests, started now so their start-up overlaps the other tests.
const shortServer = startAuthgate({ name: 'authgate-short', env: { AUTHGATE_JWT__ACCESS_TOKEN_EXPIRES_IN: '3s' } });
const limitedServer = startAuthgate({ name: 'authgate-limits', env: { AUTHGATE_RATE_LIMIT__ENABLED: 'true' } });
after(async () => {
  await srv.stop();
  await Promise.allSettled([shortServer.then((s) => s.stop()), limitedServer.then((s) => s.stop())]);
});

/** A fetch for app calls in Node: the SDK's attachToFetch over a jar-aware fetch. */
function appFetch(c) {
  const base = c.jar
    ? async (input, init = {}) => {
      const headers = new Headers(init.headers);
      const cookie = c.jar.header();
      if (cookie) headers.set('cookie', cookie);
      const r = await fetch(input, { ...init, headers });
      c.jar.store(r.headers.getSetCookie());
      return r;
    }
    : fetch;
  return c.client.attachToFetch(base);
}

const paths = (log) => log.map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status}`);

async function signedUp(mode, url = srv.url) {
  const c = await makeClient(url, mode);
  const email = uniqueEmail(`s-${mode}`);
  await c.client.signup({ email, password: PASSWORD });
  return { ...c, email };
}

for (const mode of MODES) {
  describe(`${mode} mode`, () => {
    it('getClientConfig reads the public configuration without credentials', async () => {
      const c = await makeClient(srv.url, mode);
      const cfg = await c.client.getClientConfig();
      assert.equal(cfg.emailAuth.enabled, true);
      assert.equal(typeof cfg.mfa.enabled, 'boolean');
      assert.ok(Array.isArray(cfg.mfa.methods));
      assert.equal(cfg.accessTokenType, 'header'); // server default: the client chooses
      assert.equal(c.log[0].headers.Authorization, undefined);
      assert.equal(c.log[0].headers['x-access-token-type'], mode);
    });

    it('signup signs the new user in', async () => {
      const c = await makeClient(srv.url, mode);
      const email = uniqueEmail(`signup-${mode}`);
      const res = await c.client.signup({ email, password: PASSWORD });
      assert.equal(res.message, 'Signup successful');
      assert.equal(res.isRequiresMfa, false);
      assert.equal(c.client.getIsAuthenticated(), true);
      if (mode === 'header') {
        assert.equal(typeof res.accessToken, 'string');
        assert.equal(typeof res.refreshToken, 'string');
        assert.equal(await c.storage.get('access_token'), res.accessToken);
        const session = c.client.getSession();
        assert.equal(session.userId, claims(res.accessToken).sub);
        assert.equal(session.id, claims(res.accessToken).sessionId);
        assert.ok(session.expiresAt instanceof Date);
      } else {
        // Cookie mode: no token in the body, HttpOnly cookies instead (contract §1.4/§1.5).
        assert.equal(res.accessToken, undefined);
        assert.equal(res.refreshToken, undefined);
        for (const name of ['accessToken', 'refreshToken']) {
          const ck = c.jar.get(name);
          assert.ok(ck, `${name} cookie set`);
          assert.equal(ck.httpOnly, true);
          assert.equal(ck.sameSite, 'lax');
          assert.equal(ck.path, '/');
        }
        assert.ok(c.jar.scriptVisible('nest_auth_csrf'), 'CSRF cookie readable by page script');
        // The SDK cannot see the session in cookie mode (it decodes the body's access token).
        assert.equal(c.client.getSession().userId, '');
      }
      const me = await c.client.getSessionUserData();
      assert.equal(me.email, email);
      assert.equal(me.isMfaEnabled, false);
      assert.deepEqual(me.roles, []);
      assert.deepEqual(me.permissions, []);
    });

    it('signup of an existing e-mail is refused with a coded error', async () => {
      const a = await signedUp(mode);
      const c = await makeClient(srv.url, mode);
      await assert.rejects(c.client.signup({ email: a.email, password: PASSWORD }),
        authError({ statusCode: 400, code: 'EMAIL_ALREADY_EXISTS' }));
    });

    it('login, the session user (me), the user row (user) and verify-session', async () => {
      const { email } = await signedUp(mode);
      const c = await makeClient(srv.url, mode);
      const res = await c.client.login({ providerName: 'email', credentials: { email, password: PASSWORD } });
      assert.equal(res.message, 'Login successful');
      assert.equal(res.isRequiresMfa, false);
      assert.equal(c.client.getIsAuthenticated(), true);

      const me = await c.client.getSessionUserData();
      assert.equal(me.email, email);

      const check = await c.client.verifySession();
      assert.equal(check.valid, true);
      assert.equal(check.userId, me.id);
      assert.ok(!Number.isNaN(Date.parse(check.expiresAt)));

      // GET /auth/user is not wrapped by the SDK; apps call it through attachToFetch().
      const r = await appFetch(c)(`${srv.url}/auth/user`);
      assert.equal(r.status, 200);
      const user = await r.json();
      assert.equal(user.id, me.id);
      assert.equal(user.email, email);
      assert.equal(user.isActive, true);
      assert.equal(user.passwordHash, undefined);
    });

    it('login with a wrong password rejects with INVALID_CREDENTIALS', async () => {
      const { email } = await signedUp(mode);
      const c = await makeClient(srv.url, mode);
      await assert.rejects(
        c.client.login({ providerName: 'email', credentials: { email, password: 'wrong-password-1' } }),
        authError({ statusCode: 401, code: 'INVALID_CREDENTIALS', kind: 'rejected', message: 'Invalid credentials' }),
      );
      assert.equal(c.client.getIsAuthenticated(), false);
    });

    it('refresh() rotates the tokens and the session keeps working', async () => {
      const c = await signedUp(mode);
      const before = mode === 'header' ? await c.storage.get('refresh_token') : c.jar.value('refreshToken');
      const seen = [];
      c.client.onTokenRefreshed((t) => seen.push(t));
      const out = await c.client.refresh();
      if (mode === 'header') {
        assert.ok(out.accessToken && out.refreshToken);
        assert.notEqual(out.refreshToken, before);
        assert.equal(await c.storage.get('refresh_token'), out.refreshToken);
        assert.deepEqual(seen, [out]);
        const req = c.log.find((e) => e.url.endsWith('/auth/refresh-token'));
        assert.equal(req.headers.Authorization, undefined, 'refresh is sent without the bearer');
        assert.deepEqual(req.body, { refreshToken: before });
      } else {
        assert.equal(out, null); // cookie mode: the SDK sees no tokens
        assert.notEqual(c.jar.value('refreshToken'), before);
        const req = c.log.find((e) => e.url.endsWith('/auth/refresh-token'));
        assert.equal(req.body, undefined, 'cookie-mode refresh has no body');
        assert.equal(req.headers['x-access-token-type'], 'cookie');
        assert.equal(req.status, 200);
      }
      assert.equal((await c.client.verifySession()).valid, true);
    });

    it('logout ends the server session and clears local state', async () => {
      const c = await signedUp(mode);
      const oldAccess = mode === 'header' ? await c.storage.get('access_token') : c.jar.value('accessToken');
      await c.client.logout();
      assert.equal(c.client.getIsAuthenticated(), false);
      assert.equal(c.client.getSession(), null);
      const out = c.log.at(-1);
      assert.equal(new URL(out.url).pathname, '/auth/logout');
      assert.equal(out.status, 200, JSON.stringify(out.data));
      if (mode === 'header') {
        assert.equal(await c.storage.get('access_token'), null);
        const r = await raw(srv.url, 'GET', '/auth/me', { headers: { authorization: `Bearer ${oldAccess}` } });
        assert.equal(r.status, 401);
      } else {
        assert.equal(out.headers['x-csrf-token'], c.jar.scriptVisible('nest_auth_csrf'));
        assert.equal(c.jar.get('accessToken'), null, 'access cookie cleared');
        assert.equal(c.jar.get('refreshToken'), null, 'refresh cookie cleared');
        const r = await raw(srv.url, 'GET', '/auth/me', { headers: { cookie: `accessToken=${oldAccess}` } });
        assert.equal(r.status, 401);
      }
      // After logout the SDK has nothing to refresh with: verifySession says not valid.
      assert.deepEqual(await c.client.verifySession(), { valid: false });
    });

    it('logoutAll ends every session of the user', async () => {
      const a = await signedUp(mode);
      const b = await makeClient(srv.url, mode);
      await b.client.login({ providerName: 'email', credentials: { email: a.email, password: PASSWORD } });
      assert.equal((await b.client.verifySession()).valid, true);
      const res = await a.client.logoutAll();
      assert.equal(res.message, 'Logged out from all devices successfully');
      assert.equal(a.client.getIsAuthenticated(), false);
      // b's access token is dead; the SDK tries one refresh (also dead) and reports invalid.
      assert.deepEqual(await b.client.verifySession(), { valid: false });
      assert.deepEqual(paths(b.log).slice(-2), ['GET /auth/verify-session 401', 'POST /auth/refresh-token 401']);
      assert.equal(b.client.getIsAuthenticated(), false);
    });
  });
}

// Access tokens live 3 s there. JWT times are whole seconds, so a token minted at x.999 s
// still lives > 2 s: room for the SDK's immediate retry even on a loaded machine.
describe('the SDK refreshes on its own (short-lived access tokens)', { concurrency: true }, () => {
  /** Wait until the client's current access token has expired (bearer exp / cookie Max-Age). */
  const expiry = async (c) => {
    const until = c.mode === 'header'
      ? claims(await c.storage.get('access_token')).exp * 1000
      : c.jar.get('accessToken')?.expires ?? Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 150));
  };

  for (const mode of MODES) {
    it(`${mode} mode: a 401 triggers one refresh and the call is retried`, async (t) => {
      const { url } = await shortServer;
      const c = await signedUp(mode, url);
      const refreshed = [];
      c.client.onTokenRefreshed((tk) => refreshed.push(tk));

      // 1. A normal SDK call: GET /auth/me → 401 → POST /auth/refresh-token → GET /auth/me.
      await expiry(c);
      c.log.length = 0;
      const me = await c.client.getSessionUserData();
      assert.equal(me.email, c.email);
      assert.deepEqual(paths(c.log), ['GET /auth/me 401', 'POST /auth/refresh-token 200', 'GET /auth/me 200']);
      assert.equal(refreshed.length, 1);

      // 2. verifySession has its own refresh-and-retry path.
      await expiry(c);
      c.log.length = 0;
      assert.equal((await c.client.verifySession()).valid, true);
      assert.deepEqual(paths(c.log), [
        'GET /auth/verify-session 401', 'POST /auth/refresh-token 200', 'GET /auth/verify-session 200',
      ]);

      // 3. Concurrent calls after expiry — SDK calls and an app call through attachToFetch —
      //    share the refresh queue and all succeed.
      await expiry(c);
      c.log.length = 0;
      const [meAgain, status, userRes] = await Promise.all([
        c.client.getSessionUserData(), c.client.getMfaStatus(), appFetch(c)(`${url}/auth/user`),
      ]);
      assert.equal(meAgain.email, c.email);
      assert.equal(typeof status.isEnabled, 'boolean');
      assert.equal(userRes.status, 200);
      assert.equal((await userRes.json()).email, c.email);
      const refreshes = c.log.filter((e) => e.url.endsWith('/auth/refresh-token'));
      assert.ok(refreshes.length >= 1 && refreshes.every((e) => e.status === 200), paths(c.log).join('\n'));
      t.diagnostic(`concurrent calls used ${refreshes.length} refresh(es)`);
    });
  }
});

describe('cookie mode and CSRF (the SDK never sends the CSRF header: contract §1.6, W15)', () => {
  it('GET /auth/csrf hands out the token and its names', async () => {
    const r = await raw(srv.url, 'GET', '/auth/csrf');
    assert.equal(r.status, 200);
    assert.equal(r.data.enabled, true);
    assert.equal(r.data.headerName, 'x-csrf-token');
    assert.equal(r.data.cookieName, 'nest_auth_csrf');
    assert.match(r.setCookie.join('\n'), new RegExp(`nest_auth_csrf=${r.data.csrfToken}`));
  });

  it('the SDK as shipped: cookie-authenticated POSTs are refused with 403 CSRF_TOKEN_INVALID', async () => {
    // authgate enables CSRF by default (upstream defaults it off): the documented behaviour
    // chosen. Apps using cookie mode add the header (lib/csrf.mjs withCsrf) — see README.
    const c = await makeClient(srv.url, 'cookie', { csrf: false });
    const email = uniqueEmail('nocsrf');
    await c.client.signup({ email, password: PASSWORD }); // public routes are not checked
    assert.equal((await c.client.getSessionUserData()).email, email); // GETs are not checked
    await assert.rejects(c.client.logoutAll(), authError({ statusCode: 403, code: 'CSRF_TOKEN_INVALID' }));
    // logout() swallows the 403 and clears local state — but the server session survives.
    await c.client.logout();
    assert.equal(c.log.at(-1).status, 403);
    const r = await raw(srv.url, 'GET', '/auth/me', { jar: c.jar });
    assert.equal(r.status, 200, 'session still alive on the server');
  });

  it('a wrong CSRF header is refused too', async () => {
    const c = await makeClient(srv.url, 'cookie');
    await c.client.signup({ email: uniqueEmail('badcsrf'), password: PASSWORD });
    const r = await raw(srv.url, 'POST', '/auth/logout-all', {
      jar: c.jar, headers: { 'x-access-token-type': 'cookie', 'x-csrf-token': 'not-the-cookie' },
    });
    assert.equal(r.status, 403);
    assert.equal(r.data.code, 'CSRF_TOKEN_INVALID');
  });
});

describe('cookie mode "remember me" (contract §1.4)', () => {
  it('login({ rememberMe: false }) gives session cookies, kept across refreshes', async () => {
    const a = await signedUp('header');
    const c = await makeClient(srv.url, 'cookie');
    await c.client.login({ providerName: 'email', credentials: { email: a.email, password: PASSWORD }, rememberMe: false });
    for (const name of ['accessToken', 'refreshToken']) {
      assert.equal(c.jar.get(name).maxAge, undefined, `${name} is a session cookie`);
      assert.equal(c.jar.get(name).expires, null);
    }
    assert.equal(c.jar.value('nest_auth_remember'), '0');
    await c.client.refresh();
    assert.equal(c.jar.get('refreshToken').maxAge, undefined, 'still a session cookie after refresh');

    const d = await makeClient(srv.url, 'cookie');
    await d.client.login({ providerName: 'email', credentials: { email: a.email, password: PASSWORD }, rememberMe: true });
    assert.ok(d.jar.get('refreshToken').maxAge > 0, 'persistent cookie');
    assert.equal(d.jar.get('nest_auth_remember'), null);
  });
});

describe('rate limits as the SDK sees them (server with authgate\'s default limits)', () => {
  it('a 429 is an "indeterminate" AuthError with code RATE_LIMITED (not a sign-out)', async () => {
    const { url } = await limitedServer;
    const a = await makeClient(url, 'header');
    const email = uniqueEmail('limited');
    await a.client.signup({ email, password: PASSWORD });
    let err;
    for (let i = 0; i < 20 && !err; i++) {
      const c = await makeClient(url, 'header');
      err = await c.client.signup({ email, password: PASSWORD }).then(() => null, (e) => (e.statusCode === 429 ? e : null));
    }
    assert.ok(err, 'signing up the same address again and again is rate limited');
    assert.equal(err.code, 'RATE_LIMITED');
    assert.equal(err.kind, 'indeterminate');
    assert.equal(err.details.statusCode, 429);
    // The signed-in client is unaffected: 429 never clears SDK state.
    assert.equal((await a.client.verifySession()).valid, true);
  });
});
