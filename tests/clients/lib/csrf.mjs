// The CSRF header the official SDK never sends (contract §1.6, weakness W15).
//
// @ackplus/nest-auth-client 2.11.1 has no request hook, but it accepts any `httpAdapter`
// ({ request(options) → { status, data, headers, ok } }). In cookie mode a guarded,
// state-changing request (POST /auth/logout, /auth/mfa/toggle, …) is refused by the server
// with 403 CSRF_TOKEN_INVALID unless `x-csrf-token` echoes the `nest_auth_csrf` cookie, so
// apps wrap the adapter. Shared by the Node tests and the browser page.

export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_COOKIE = 'nest_auth_csrf';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Wrap an SDK HttpAdapter so that cookie-mode, state-changing requests carry the CSRF header.
 * `readToken()` returns the current value of the (non-HttpOnly) CSRF cookie, or null.
 */
export function withCsrf(adapter, readToken, { headerName = CSRF_HEADER } = {}) {
  return {
    async request(options) {
      const cookieMode = options.headers?.['x-access-token-type'] === 'cookie';
      if (!cookieMode || SAFE.has(options.method)) return adapter.request(options);
      const token = await readToken();
      if (!token) return adapter.request(options);
      return adapter.request({ ...options, headers: { ...options.headers, [headerName]: token } });
    },
  };
}

/** In a browser: the CSRF cookie as page script sees it. */
export function readDocumentCookie(name = CSRF_COOKIE) {
  if (typeof document === 'undefined') return null;
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}
