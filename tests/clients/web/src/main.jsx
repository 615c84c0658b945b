// A minimal app on @ackplus/nest-auth-react 2.11.1: provider, hooks, guards; a sign-in form,
// the MFA step and a protected view. `?mode=cookie` (default) or `?mode=header`.
import { AuthClient, FetchAdapter, LocalStorageAdapter } from '@ackplus/nest-auth-client';
import {
  AuthGuard, AuthProvider, GuestGuard, useAuthStatus, useNestAuth, useSession, useUser,
} from '@ackplus/nest-auth-react';
import { StrictMode, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { readDocumentCookie, withCsrf } from '../../lib/csrf.mjs';

const mode = new URLSearchParams(window.location.search).get('mode') === 'header' ? 'header' : 'cookie';

// Same origin as the API (serve.mjs proxies /auth to authgate), so no CORS is involved.
// The SDK never sends the CSRF header (contract §1.6, W15): the adapter adds it in cookie mode.
const client = new AuthClient({
  baseUrl: window.location.origin,
  accessTokenType: mode,
  storage: new LocalStorageAdapter(`demo_${mode}_`),
  httpAdapter: withCsrf(new FetchAdapter(), () => readDocumentCookie()),
});
const appFetch = client.attachToFetch();

const METHOD_LABEL = { email: 'E-mail code', sms: 'SMS code', totp: 'Authenticator app', recovery: 'Recovery code' };

function ErrorLine({ error }) {
  if (!error) return null;
  return <p className="error" data-testid="error" role="alert">{error.message}{error.code ? ` (${error.code})` : ''}</p>;
}

function PasswordStep({ onMfa }) {
  const { login } = useNestAuth();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await login({ providerName: 'email', credentials: { email, password } });
      if (res.isRequiresMfa) onMfa(res);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} data-testid="login-form">
      <h2>Sign in</h2>
      <label>E-mail <input name="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
      <label>Password <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
      <button type="submit" disabled={busy}>Sign in</button>
      <ErrorLine error={error} />
    </form>
  );
}

function MfaStep({ challenge, onCancel }) {
  const { send2fa, verify2fa, verifyRecoveryCode, logout } = useNestAuth();
  const methods = [...(challenge.mfaMethods ?? []), 'recovery'];
  const [method, setMethod] = useState(challenge.defaultMfaMethod ?? methods[0]);
  const [code, setCode] = useState('');
  const [trust, setTrust] = useState(false);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    try { await fn(); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const send = () => run(async () => { await send2fa(method === 'sms' ? 'phone' : 'email'); setSent(true); });
  const verify = (e) => {
    e.preventDefault();
    run(() => (method === 'recovery'
      ? verifyRecoveryCode({ code, trustDevice: trust })
      : verify2fa({ method, otp: code, trustDevice: trust })));
  };
  return (
    <form onSubmit={verify} data-testid="mfa-step">
      <h2>Two-step verification</h2>
      <fieldset>
        <legend>Method</legend>
        {methods.map((m) => (
          <label key={m} className="inline">
            <input type="radio" name="method" value={m} checked={method === m} onChange={() => { setMethod(m); setCode(''); setSent(false); }} />
            {METHOD_LABEL[m] ?? m}
          </label>
        ))}
      </fieldset>
      {(method === 'email' || method === 'sms') && (
        <p>
          <button type="button" onClick={send} disabled={busy} data-testid="send-code">{sent ? 'Send again' : 'Send code'}</button>
          {sent && <span data-testid="code-sent"> Code sent.</span>}
        </p>
      )}
      <label>{method === 'recovery' ? 'Recovery code' : 'Code'} <input name="code" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} required /></label>
      <label className="inline"><input type="checkbox" name="trust" checked={trust} onChange={(e) => setTrust(e.target.checked)} /> Trust this device</label>
      <button type="submit" disabled={busy}>Verify</button>
      <button type="button" className="link" onClick={async () => { await logout(); onCancel(); }}>Cancel</button>
      <ErrorLine error={error} />
    </form>
  );
}

function SignIn() {
  const [challenge, setChallenge] = useState(null);
  return challenge
    ? <MfaStep challenge={challenge} onCancel={() => setChallenge(null)} />
    : <PasswordStep onMfa={setChallenge} />;
}

function Protected() {
  const user = useUser();
  const session = useSession();
  const { logout } = useNestAuth();
  const [row, setRow] = useState(null);
  useEffect(() => {
    let live = true;
    // A host-app style call through the SDK's fetch wrapper (bearer or cookies, auto-refresh).
    appFetch('/auth/user').then(async (r) => { if (live) setRow(r.ok ? await r.json() : { status: r.status }); });
    return () => { live = false; };
  }, []);
  return (
    <section data-testid="protected">
      <h2>Protected view</h2>
      <p>Signed in as <strong data-testid="user-email">{user?.email}</strong></p>
      <dl>
        <dt>MFA enabled</dt><dd data-testid="user-mfa">{String(user?.isMfaEnabled)}</dd>
        <dt>Session</dt><dd data-testid="session-id">{session?.id || '(cookie mode: held by the browser)'}</dd>
        <dt>GET /auth/user</dt><dd data-testid="user-row">{row ? (row.id ? `active=${row.isActive}` : `HTTP ${row.status}`) : '…'}</dd>
      </dl>
      <button type="button" onClick={() => logout()} data-testid="logout">Sign out</button>
    </section>
  );
}

function Shell() {
  const { status } = useAuthStatus();
  const title = useMemo(() => `authgate × nest-auth-react (${mode} mode)`, []);
  return (
    <main>
      <h1>{title}</h1>
      <p className="status">status: <span data-testid="status">{status}</span></p>
      <GuestGuard loadingFallback={<p data-testid="loading">Loading…</p>}>
        <SignIn />
      </GuestGuard>
      <AuthGuard fallback={<p data-testid="signed-out">Sign in to see the protected view.</p>}>
        <Protected />
      </AuthGuard>
    </main>
  );
}

const css = `
body { font: 16px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
main { max-width: 32rem; }
form, section { border: 1px solid #ccc; border-radius: 8px; padding: 1rem 1.25rem; }
label { display: block; margin: .5rem 0; }
label.inline { display: inline-block; margin-right: 1rem; }
input[type=email], input[type=password], input[name=code] { display: block; width: 100%; padding: .4rem; box-sizing: border-box; }
button { margin: .5rem .5rem 0 0; padding: .4rem .9rem; }
button.link { background: none; border: none; color: #06c; text-decoration: underline; }
.error { color: #b00020; }
.status { color: #555; }
`;
document.head.appendChild(Object.assign(document.createElement('style'), { textContent: css }));

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <AuthProvider client={client}>
      <Shell />
    </AuthProvider>
  </StrictMode>,
);
