// ES256 access tokens with a `kid` header, through @ackplus/nest-auth-client 2.11.1: the SDK
// reads sub/sessionId/exp from the payload as before (signup, session, refresh, verify-session),
// and the token verifies against GET /.well-known/jwks.json with Node's own crypto — a
// verifier in another language than authgate's, from the published JWK alone.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startAuthgate } from '../lib/server.mjs';
import { MODES, PASSWORD, claims, makeClient, uniqueEmail } from '../lib/sdk.mjs';

const keyDir = mkdtempSync(join(tmpdir(), 'authgate-es256-'));
const keyFile = join(keyDir, 'jwt-es256.pem');
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

const srv = await startAuthgate({
  name: 'authgate-es256',
  env: { AUTHGATE_JWT__ALGORITHM: 'ES256', AUTHGATE_JWT__PRIVATE_KEY_FILE: keyFile },
});
after(async () => {
  await srv.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

const header = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));

async function jwks() {
  const r = await fetch(`${srv.url}/.well-known/jwks.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('cache-control'), /^public, max-age=\d+$/);
  return (await r.json()).keys;
}

/** ES256 verification with nothing but the JWK (JWS signatures are r||s: ieee-p1363). */
function verifiesWith(jwk, jwt) {
  const [h, p, s] = jwt.split('.');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s, 'base64url'));
}

describe('ES256 tokens with a kid', () => {
  it('the JWKS publishes the public key under the kid the tokens carry', async () => {
    const keys = await jwks();
    assert.equal(keys.length, 1);
    const [jwk] = keys;
    assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(jwk.alg, 'ES256');
    assert.equal(jwk.use, 'sig');
    const mine = privateKey.export({ format: 'jwk' });
    assert.equal(jwk.x, mine.x);
    assert.equal(jwk.y, mine.y);
  });

  for (const mode of MODES) {
    it(`${mode} mode: signup, session, refresh and verify-session work unchanged`, async () => {
      const [jwk] = await jwks();
      const c = await makeClient(srv.url, mode);
      const email = uniqueEmail(`es256-${mode}`);
      const res = await c.client.signup({ email, password: PASSWORD });
      assert.equal(c.client.getIsAuthenticated(), true);
      const me = await c.client.getSessionUserData();
      assert.equal(me.email, email);
      if (mode === 'header') {
        assert.deepEqual(header(res.accessToken), { alg: 'ES256', typ: 'JWT', kid: jwk.kid });
        const session = c.client.getSession(); // the SDK's own decoding of the payload
        assert.equal(session.userId, claims(res.accessToken).sub);
        assert.equal(session.id, claims(res.accessToken).sessionId);
        assert.equal(session.expiresAt.getTime(), claims(res.accessToken).exp * 1000);
        assert.equal(verifiesWith(jwk, res.accessToken), true);
        const tampered = res.accessToken.replace(/\.([^.]+)\./, (_, p) => `.${p.slice(0, -2)}AA.`);
        assert.equal(verifiesWith(jwk, tampered), false);
      } else {
        const token = c.jar.get('accessToken').value;
        assert.equal(header(token).kid, jwk.kid);
        assert.equal(verifiesWith(jwk, token), true);
      }
      const out = await c.client.refresh();
      if (mode === 'header') {
        assert.equal(header(out.accessToken).kid, jwk.kid);
        assert.equal(c.client.getSession().userId, me.id);
      }
      const check = await c.client.verifySession();
      assert.equal(check.valid, true);
      assert.equal(check.userId, me.id);
      await c.client.logout();
      assert.deepEqual(await c.client.verifySession(), { valid: false });
    });
  }
});
