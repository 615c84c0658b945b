// Start and stop real authgate servers (`authgate serve`) for the client tests.
//
// run.sh starts the shared server and exports AUTHGATE_URL / AUTHGATE_DATA_DIR; tests that
// need a different configuration (e.g. short-lived access tokens to see the SDK refresh on
// its own) start a private server with startAuthgate({ env }).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '../../..');
export const AUTHGATE_BIN = process.env.AUTHGATE_BIN || join(REPO, '.venv/bin/authgate');

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** The environment every test server gets: a fresh SQLite file, cheap argon2, a secret. */
export function baseEnv(dir, extra = {}) {
  return {
    AUTHGATE_DATABASE_URL: `sqlite+aiosqlite:///${join(dir, 'authgate.db')}`,
    AUTHGATE_JWT__SECRET: randomBytes(32).toString('base64url'),
    AUTHGATE_PASSWORD_HASH__TIME_COST: '1',
    AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB: '8',
    AUTHGATE_PASSWORD_HASH__PARALLELISM: '1',
    // Dozens of sign-ups from 127.0.0.1 per minute: the per-IP limits would trip. The one
    // test about 429s starts its own server with the limits on.
    AUTHGATE_RATE_LIMIT__ENABLED: 'false',
    ...extra,
  };
}

async function waitUp(url, child, log, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) break;
    try {
      const r = await fetch(`${url}/auth/client-config`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`authgate did not start at ${url} (exit ${child.exitCode}):\n${log.join('')}`);
}

/**
 * Spawn `authgate serve` on a free loopback port in a temporary directory.
 * Returns { url, dataDir, env, stop() }. The data directory (SQLite file, outbox) is removed
 * on stop unless AUTHGATE_KEEP_DATA is set.
 */
export async function startAuthgate({ env = {}, name = 'authgate' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const fullEnv = baseEnv(dir, env);
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const log = [];
    const child = spawn(AUTHGATE_BIN, ['serve', '--host', '127.0.0.1', '--port', String(port),
      '--log-level', 'warning'], {
      cwd: dir, env: { ...process.env, ...fullEnv }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => log.push(String(d)));
    child.stderr.on('data', (d) => log.push(String(d)));
    try {
      await waitUp(url, child, log, 30_000);
    } catch (err) {
      child.kill('SIGTERM');
      if (attempt === 2 || !log.join('').includes('address already in use')) throw err;
      continue;
    }
    const stop = async () => {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(t);
      }
      if (!process.env.AUTHGATE_KEEP_DATA) rmSync(dir, { recursive: true, force: true });
    };
    return { url, dataDir: dir, env: fullEnv, log, stop };
  }
  throw new Error('unreachable');
}

/** The shared server started by run.sh, or a private one when the file runs alone. */
export async function sharedServer(t) {
  if (process.env.AUTHGATE_URL) {
    return { url: process.env.AUTHGATE_URL, dataDir: process.env.AUTHGATE_DATA_DIR, stop: async () => {} };
  }
  const srv = await startAuthgate({ name: 'authgate-shared' });
  t?.after?.(() => srv.stop());
  return srv;
}

// -- development outbox ----------------------------------------------------------------
// Without an SMTP host authgate writes every e-mail it would send as an .eml file under
// <data_dir>/outbox/ (files named by time). The tests read codes from there, as a developer
// would: parse the MIME message, take the text/plain part, find the code.

function outboxFiles(dataDir) {
  const dir = join(dataDir, 'outbox');
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.eml')).sort().map((n) => join(dir, n));
}

/** Paths already in the outbox (take a mark before the action that sends a message). */
export function outboxMark(dataDir) {
  return new Set(outboxFiles(dataDir));
}

/**
 * Wait for a new outbox message to `recipient` (not in `seen`); returns
 * { path, to, subject, text, code } for the newest one.
 */
export async function waitForMessage(dataDir, recipient, seen = new Set(), { timeoutMs = 5000 } = {}) {
  const until = Date.now() + timeoutMs;
  const needle = recipient.toLowerCase();
  for (;;) {
    const fresh = outboxFiles(dataDir).filter((p) => !seen.has(p)).reverse();
    for (const path of fresh) {
      const msg = parseMime(readFileSync(path, 'utf8'));
      if (!(msg.headers.to ?? '').toLowerCase().includes(needle)) continue;
      const text = plainText(msg);
      return { path, to: msg.headers.to, subject: msg.headers.subject, text, code: extractCode(text) };
    }
    if (Date.now() > until) throw new Error(`no outbox message for ${recipient} in ${join(dataDir, 'outbox')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The first stand-alone 6-digit run in a message body (the templates indent it alone). */
export function extractCode(text) {
  const m = text.match(/(?<![\w#.-])(\d{6})(?![\w.-])/);
  return m ? m[1] : null;
}

/** A small RFC 5322/2045 reader: headers (lower-cased, unfolded), body, multipart parts. */
export function parseMime(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 2);
  const headers = {};
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const type = headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const parts = body.split(`--${boundary}`).slice(1)
      .filter((p) => !p.startsWith('--'))
      .map((p) => parseMime(p.replace(/^\n/, '')));
    return { headers, type, parts };
  }
  return { headers, type, body: decodeBody(body, headers['content-transfer-encoding']) };
}

function decodeBody(body, cte = '7bit') {
  switch (cte.toLowerCase()) {
    case 'base64': return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable': {
      const bytes = body.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    default: return body;
  }
}

function plainText(msg) {
  if (msg.parts) {
    for (const p of msg.parts) {
      const t = plainText(p);
      if (t) return t;
    }
    return '';
  }
  return /^text\/plain/i.test(msg.type) ? msg.body : '';
}
