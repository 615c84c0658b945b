// Tenants through @ackplus/nest-auth-client 2.11.1 (tenant.mode = shared): signup and login
// into a tenant, switchTenant to another membership (new tokens, that tenant's roles), and the
// coded refusals (not a member: 403 NOT_A_MEMBER_OF_TENANT; unknown tenant), in header and
// cookie mode. Tenants, roles and memberships are seeded with the `authgate tenant` / `authgate
// role` commands against the server's own database, as an operator would.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { AUTHGATE_BIN, startAuthgate } from '../lib/server.mjs';
import { MODES, PASSWORD, authError, claims, makeClient, uniqueEmail } from '../lib/sdk.mjs';

const srv = await startAuthgate({ name: 'authgate-tenants', env: { AUTHGATE_TENANT__MODE: 'shared' } });
after(() => srv.stop());

function cli(...args) {
  return execFileSync(AUTHGATE_BIN, args, {
    cwd: srv.dataDir, env: { ...process.env, ...srv.env }, encoding: 'utf8',
  }).trim().split('\n').pop();
}

const acme = cli('tenant', 'create', 'Acme', '--slug', `acme-${process.pid}`);
const beta = cli('tenant', 'create', 'Beta', '--slug', `beta-${process.pid}`);
cli('role', 'create', 'editor', '--tenant', beta, '--permission', 'posts.write');

for (const mode of MODES) {
  describe(`${mode} mode`, () => {
    it('signup into a tenant, switchTenant to another membership, refusals', async () => {
      const c = await makeClient(srv.url, mode);
      const email = uniqueEmail(`tenant-${mode}`);
      const res = await c.client.signup({ email, password: PASSWORD, tenantId: acme });
      assert.equal(res.message, 'Signup successful');
      if (mode === 'header') assert.equal(c.client.getSession().tenantId, acme);
      let me = await c.client.getSessionUserData();
      assert.deepEqual(me.roles, []);

      await assert.rejects(c.client.switchTenant({ tenantId: beta }),
        authError({ statusCode: 403, code: 'NOT_A_MEMBER_OF_TENANT' }));
      await assert.rejects(c.client.switchTenant({ tenantId: '8f4b5c1e-3c1a-4d3e-9b7a-0a1b2c3d4e5f' }),
        authError({ statusCode: 400, code: 'TENANT_NOT_FOUND' }));

      cli('tenant', 'add-member', beta, email, '--role', 'editor');
      const switched = await c.client.switchTenant({ tenantId: beta });
      assert.equal(switched.message, 'Tenant switched successfully');
      assert.equal(switched.isRequiresMfa, false);
      if (mode === 'header') {
        assert.equal(c.client.getSession().tenantId, beta);
        assert.equal(claims(switched.accessToken).tenantId, beta);
        assert.deepEqual(claims(switched.accessToken).roles.map((r) => r.name), ['editor']);
      } else {
        assert.equal(switched.accessToken, undefined);
        assert.ok(c.jar.get('accessToken'), 'new access cookie');
      }
      me = await c.client.getSessionUserData();
      assert.deepEqual(me.roles.map((r) => r.name), ['editor']);
      assert.deepEqual(me.permissions, ['posts.write']);

      // a login that names a tenant the account is not in is refused after the password
      const other = await makeClient(srv.url, mode);
      const outsider = uniqueEmail(`outsider-${mode}`);
      await other.client.signup({ email: outsider, password: PASSWORD, tenantId: acme });
      const fresh = await makeClient(srv.url, mode);
      await assert.rejects(fresh.client.login({
        providerName: 'email', tenantId: beta, credentials: { email: outsider, password: PASSWORD },
      }), authError({ statusCode: 403, code: 'ACCESS_DENIED' }));
    });
  });
}
