// Building @ackplus/nest-auth-client instances for Node, in header mode or cookie mode.
//
// Header mode uses the SDK exactly as shipped: its FetchAdapter over Node's global fetch and
// its MemoryStorage (Node has no localStorage). Cookie mode needs what a browser provides for
// free: a cookie jar. The SDK accepts a custom `httpAdapter`, so JarFetchAdapter below does
// what the SDK's FetchAdapter does (same headers, same body rule, same response shape) plus
// a per-client cookie jar; withCsrf() adds the CSRF header the SDK never sends.
import { AuthClient, FetchAdapter, MemoryStorage } from '@ackplus/nest-auth-client';
import { CSRF_COOKIE, withCsrf } from './csrf.mjs';

export const MODES = ['header', 'cookie'];

/** A minimal RFC 6265 jar for one loopback origin (authgate always uses Path=/). */
export class CookieJar {
  constructor() { this.cookies = new Map(); }

  store(setCookieHeaders, now = Date.now()) {
    for (const line of setCookieHeaders) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      let value = pair.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      const c = { name, value, httpOnly: false, expires: null, sameSite: null, path: '/', raw: line };
      for (const a of attrs) {
        const [k, ...rest] = a.trim().split('=');
        const v = rest.join('=');
        switch (k.toLowerCase()) {
          case 'httponly': c.httpOnly = true; break;
          case 'max-age': c.maxAge = Number(v); c.expires = now + Number(v) * 1000; break;
          case 'expires': if (c.maxAge === undefined) c.expires = Date.parse(v); break;
          case 'samesite': c.sameSite = v.toLowerCase(); break;
          case 'path': c.path = v; break;
          default: break;
        }
      }
      if (c.expires !== null && c.expires <= now) this.cookies.delete(name);
      else this.cookies.set(name, c);
    }
  }

  get(name) {
    const c = this.cookies.get(name);
    if (!c) return null;
    if (c.expires !== null && c.expires <= Date.now()) { this.cookies.delete(name); return null; }
    return c;
  }

  value(name) { return this.get(name)?.value ?? null; }

  /** What page script could read (document.cookie): non-HttpOnly cookies only. */
  scriptVisible(name) { const c = this.get(name); return c && !c.httpOnly ? c.value : null; }

  header() {
    const parts = [];
    for (const name of [...this.cookies.keys()]) {
      const c = this.get(name);
      if (c) parts.push(`${c.name}=${c.value}`);
    }
    return parts.join('; ');
  }

  set(name, value) { this.cookies.set(name, { name, value, httpOnly: true, expires: null, path: '/' }); }
}

/** The SDK's FetchAdapter behaviour plus a cookie jar (what a browser does with credentials). */
export class JarFetchAdapter {
  constructor(jar = new CookieJar()) { this.jar = jar; }

  async request(options) {
    const { url, method, headers = {}, body, credentials = 'same-origin', timeout, signal } = options;
    let timeoutId;
    let abortController;
    if (timeout && !signal) {
      abortController = new AbortController();
      timeoutId = setTimeout(() => abortController?.abort(), timeout);
    }
    try {
      const sendHeaders = { 'Content-Type': 'application/json', ...headers };
      const cookie = credentials === 'omit' ? '' : this.jar.header();
      if (cookie) sendHeaders.cookie = cookie;
      const init = { method, headers: sendHeaders, signal: signal || abortController?.signal };
      if (body && method !== 'GET') init.body = JSON.stringify(body);
      const response = await fetch(url, init);
      if (credentials !== 'omit') this.jar.store(response.headers.getSetCookie());
      const responseHeaders = {};
      response.headers.forEach((value, key) => { responseHeaders[key.toLowerCase()] = value; });
      const contentType = responseHeaders['content-type'] || '';
      const data = contentType.includes('application/json') ? await response.json() : await response.text();
      return { status: response.status, data, headers: responseHeaders, ok: response.ok };
    } finally {
      if (timeoutId) clearTimeout(timeoutId);
    }
  }
}

/** Records every exchange of an adapter (to assert on what the SDK actually sent). */
export function recording(adapter, log) {
  return {
    async request(options) {
      const res = await adapter.request(options);
      log.push({ method: options.method, url: options.url, headers: options.headers, body: options.body,
        status: res.status, data: res.data });
      return res;
    },
  };
}

/**
 * An SDK client for `mode` against `baseUrl`.
 * Returns { client, mode, jar (cookie mode), storage, log, csrf: boolean }.
 * `csrf: false` builds a cookie-mode client as the SDK ships (no CSRF header) to show W15.
 */
export async function makeClient(baseUrl, mode, { csrf = true, storage, jar, config = {} } = {}) {
  const log = [];
  storage ??= new MemoryStorage();
  let adapter;
  if (mode === 'cookie') {
    jar ??= new CookieJar();
    adapter = recording(new JarFetchAdapter(jar), log);
    if (csrf) adapter = withCsrf(adapter, () => jar.scriptVisible(CSRF_COOKIE));
  } else {
    adapter = recording(new FetchAdapter(), log);
  }
  const client = new AuthClient({
    baseUrl,
    accessTokenType: mode,
    storage,
    httpAdapter: adapter,
    ...config,
  });
  await client.ready();
  return { client, mode, jar, storage, log, baseUrl };
}

/** Raw HTTP against authgate (for probes and for checks the SDK cannot express). */
export async function raw(baseUrl, method, path, { body, headers = {}, jar } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (jar) { const c = jar.header(); if (c) h.cookie = c; }
  const r = await fetch(baseUrl + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (jar) jar.store(r.headers.getSetCookie());
  const text = await r.text();
  let data = text;
  try { data = JSON.parse(text); } catch { /* keep text */ }
  return { status: r.status, data, headers: r.headers, setCookie: r.headers.getSetCookie() };
}

/**
 * True when authgate serves `method path` (anything but a 404 "Cannot …" route miss).
 * Unauthenticated probes of guarded routes answer 401, of public ones 400/200.
 */
export async function routeExists(baseUrl, method, path) {
  const r = await raw(baseUrl, method, path, { body: method === 'GET' ? undefined : {} });
  return !(r.status === 404 && String(r.data?.message ?? '').startsWith('Cannot '));
}

/** `{ skip }` option for node:test — skipped with a reason until every route exists. */
export async function needs(baseUrl, ...routes) {
  const missing = [];
  for (const route of routes) {
    const [method, path] = route.split(' ');
    if (!(await routeExists(baseUrl, method, path))) missing.push(route);
  }
  return missing.length ? { skip: `route not implemented yet: ${missing.join(', ')}` } : {};
}

let counter = 0;
/** A unique e-mail address per call (tests share one server). */
export function uniqueEmail(tag = 'user') {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter}@example.test`;
}

export const PASSWORD = 'Correct-Horse-Battery-9';

/** Decode a JWT payload without verifying it (what the SDK does). */
export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** The SDK throws plain AuthError objects, not Error instances; assert.rejects needs a checker. */
export function authError(expected) {
  return (err) => {
    for (const [k, v] of Object.entries(expected)) {
      if (err?.[k] !== v) {
        throw new Error(`expected error ${k}=${JSON.stringify(v)}, got ${JSON.stringify(err)}`);
      }
    }
    return true;
  };
}
