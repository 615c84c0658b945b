// A real local identity provider for the SDK's socialLogin tests: an OpenID Connect issuer
// (discovery, JWKS, RS256 ID tokens signed with node:crypto) and a GitHub-style API (the
// app check POST /applications/{client_id}/token with Basic credentials, /user, /user/emails).
// authgate verifies against it over HTTP exactly as against the real providers; nothing is
// mocked on authgate's side. (The Python tests use tests/idp.py, the same shape.)
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

export const CLIENT_ID = 'sdk-test-client';
export const GITHUB_CLIENT_ID = 'sdk-gh-client';
export const GITHUB_SECRET = 'sdk-gh-secret-0123456789';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export async function startIdp() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(6).toString('hex');
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const github = new Map(); // access token → { id, login, name, emails }
  let issuer = '';

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, issuer);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let body = '';
    for await (const chunk of req) body += chunk;
    const bearer = (req.headers.authorization ?? '').replace(/^(Bearer|token) /i, '').trim();
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(200, {
        issuer, jwks_uri: `${issuer}/jwks`, authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`, response_types_supported: ['code'],
        subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/jwks') return send(200, { keys: [jwk] });
    const check = url.pathname.match(/^\/github\/applications\/([^/]+)\/token$/);
    if (check && req.method === 'POST') {
      const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      if (check[1] !== GITHUB_CLIENT_ID || basic !== `${GITHUB_CLIENT_ID}:${GITHUB_SECRET}`) {
        return send(401, { message: 'Bad credentials' });
      }
      const token = JSON.parse(body || '{}').access_token;
      return github.has(token) ? send(200, { id: 1 }) : send(404, { message: 'Not Found' });
    }
    const user = github.get(bearer);
    if (url.pathname === '/github/user') {
      return user ? send(200, { id: user.id, login: user.login, name: user.name, email: null })
        : send(401, { message: 'Bad credentials' });
    }
    if (url.pathname === '/github/user/emails') {
      return user ? send(200, user.emails) : send(401, { message: 'Bad credentials' });
    }
    return send(404, { error: 'not_found' });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${server.address().port}`;

  return {
    issuer,
    /** An RS256 ID token of this issuer (claims override the defaults). */
    idToken({ sub, email, emailVerified = true, aud = CLIENT_ID, expIn = 600, ...claims } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = { iss: issuer, aud, sub, iat: now, exp: now + expIn, ...claims };
      if (email !== undefined) Object.assign(payload, { email, email_verified: emailVerified });
      const input = `${b64url({ alg: 'RS256', kid, typ: 'JWT' })}.${b64url(payload)}`;
      const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
      return `${input}.${sig}`;
    },
    /** A GitHub access token for a user whose addresses are `emails` ([{email, primary, verified}]). */
    githubToken({ id, login = 'octo', name = 'Octo Cat', emails = [] }) {
      const token = `gho_${randomBytes(12).toString('hex')}`;
      github.set(token, { id, login, name, emails });
      return token;
    },
    /** authgate's settings pointing google, github and a generic OIDC provider `corp` here. */
    env() {
      return {
        AUTHGATE_SOCIAL__GOOGLE__ISSUER: issuer,
        AUTHGATE_SOCIAL__GOOGLE__CLIENT_ID: CLIENT_ID,
        AUTHGATE_SOCIAL__OIDC__CORP__ISSUER: issuer,
        AUTHGATE_SOCIAL__OIDC__CORP__CLIENT_ID: CLIENT_ID,
        AUTHGATE_SOCIAL__GITHUB__CLIENT_ID: GITHUB_CLIENT_ID,
        AUTHGATE_SOCIAL__GITHUB__CLIENT_SECRET: GITHUB_SECRET,
        AUTHGATE_SOCIAL__GITHUB__API_URL: `${issuer}/github`,
      };
    },
    stop: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}
