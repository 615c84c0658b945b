// Multi-account cookie mode through the SDK's CookieAccountManager (contract §1.4/§1.5/§3.16):
// two accounts signed in in one "browser", switched with switchAccount, listed by
// GET /auth/accounts, one removed (logout) while the other stays signed in.
//
// The manager is browser code: it writes `nest_auth_active_account` with document.cookie and
// lists accounts with the global fetch (credentials: 'include'). In Node both are provided
// over one cookie jar, as a browser would: document.cookie writes the jar, fetch sends it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CookieAccountManager } from '@ackplus/nest-auth-client';
import { startAuthgate } from '../lib/server.mjs';
import { CSRF_COOKIE, withCsrf } from '../lib/csrf.mjs';
import { CookieJar, JarFetchAdapter, PASSWORD, makeClient, uniqueEmail } from '../lib/sdk.mjs';

const ACTIVE = 'nest_auth_active_account';
const server = startAuthgate({
  name: 'authgate-accounts', env: { AUTHGATE_SESSION__ALLOW_MULTIPLE_ACCOUNTS: 'true' },
});
let srv;
const jar = new CookieJar();
const realFetch = globalThis.fetch;
const hadDocument = 'document' in globalThis;

before(async () => {
  srv = await server;
  globalThis.fetch = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    const cookie = jar.header();
    if (cookie && init.credentials === 'include') headers.set('cookie', cookie);
    const r = await realFetch(input, { ...init, headers });
    if (init.credentials === 'include') jar.store(r.headers.getSetCookie());
    return r;
  };
  globalThis.document = {
    get cookie() { return [...jar.cookies.values()].filter((c) => !c.httpOnly).map((c) => `${c.name}=${c.value}`).join('; '); },
    set cookie(line) { jar.store([line]); },
  };
});
after(async () => {
  globalThis.fetch = realFetch;
  if (!hadDocument) delete globalThis.document;
  await srv?.stop();
});

describe('multi-account cookie mode (CookieAccountManager)', () => {
  it('signs two accounts in, switches, lists, and logs one out', async () => {
    const emails = [uniqueEmail('acct-a'), uniqueEmail('acct-b')];
    for (const email of emails) { // create the accounts with a throw-away client
      const c = await makeClient(srv.url, 'header');
      await c.client.signup({ email, password: PASSWORD });
    }
    const adapter = withCsrf(new JarFetchAdapter(jar), () => jar.scriptVisible(CSRF_COOKIE));
    const manager = new CookieAccountManager({ baseUrl: srv.url, httpAdapter: adapter });
    await manager.ready();
    assert.deepEqual(manager.listAccounts(), []);

    const a = await manager.addAccount({ providerName: 'email', credentials: { email: emails[0], password: PASSWORD } });
    const b = await manager.addAccount({ providerName: 'email', credentials: { email: emails[1], password: PASSWORD } });
    assert.equal(a.email, emails[0]);
    assert.equal(b.email, emails[1]);
    assert.notEqual(a.accountId, b.accountId);
    assert.equal(jar.value(ACTIVE), b.accountId);
    assert.equal(manager.getActiveAccountId(), b.accountId);
    assert.deepEqual(manager.listAccounts().map((x) => [x.email, x.isActive]).sort(),
      [[emails[0], false], [emails[1], true]]);

    const client = manager.getActiveClient();
    assert.equal((await client.getSessionUserData()).email, emails[1]);
    await manager.switchAccount(a.accountId);
    assert.equal(jar.value(ACTIVE), a.accountId);
    assert.equal((await client.getSessionUserData()).email, emails[0]);
    await manager.refreshAccounts();
    assert.equal(manager.listAccounts().find((x) => x.isActive).accountId, a.accountId);

    // the SDK's own refresh uses the active account's refresh cookie
    const before = jar.value(`refreshToken_${a.accountId}`);
    await client.refresh();
    assert.notEqual(jar.value(`refreshToken_${a.accountId}`), before);
    assert.equal((await client.getSessionUserData()).email, emails[0]);

    // removing (logging out) one account leaves the other signed in and active
    await manager.removeAccount(a.accountId);
    assert.deepEqual(manager.listAccounts().map((x) => x.accountId), [b.accountId]);
    assert.equal(jar.value(ACTIVE), b.accountId);
    assert.equal(jar.value(`refreshToken_${a.accountId}`), null);
    assert.equal((await client.getSessionUserData()).email, emails[1]);

    await manager.reset();
    assert.deepEqual(manager.listAccounts(), []);
  });
});
