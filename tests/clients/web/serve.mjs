// Serve the built page (web/dist) and proxy /auth/* to authgate on one origin, so the
// browser talks to authgate same-origin (no CORS) — how such an app is usually deployed
// behind one reverse proxy. Usable as a module (startWebServer) or a command:
//   node web/serve.mjs <authgate-url> [port]
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), 'dist');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.svg': 'image/svg+xml',
};
// Hop-by-hop headers are not forwarded (RFC 9110 §7.6.1).
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function proxy(target, req, res) {
  const url = new URL(req.url, target);
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  headers.host = url.host;
  const up = httpRequest(url, { method: req.method, headers }, (upRes) => {
    const out = {};
    for (const [k, v] of Object.entries(upRes.headers)) if (!HOP.has(k)) out[k] = v;
    res.writeHead(upRes.statusCode, out);
    upRes.pipe(res);
  });
  up.on('error', (err) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`proxy error: ${err.message}`);
  });
  req.pipe(up);
}

function serveStatic(req, res) {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = normalize(join(DIST, path));
  if (!file.startsWith(DIST)) { res.writeHead(403).end(); return; }
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(DIST, 'index.html'); // SPA
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-store',
  });
  createReadStream(file).pipe(res);
}

/** Start on 127.0.0.1:`port` (0 = any); resolves { url, close() }. */
export function startWebServer(authgateUrl, port = 0) {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`${DIST} is not built: npx vite build web`);
  const server = createServer((req, res) => {
    if (req.url === '/auth' || req.url.startsWith('/auth/')) proxy(authgateUrl, req, res);
    else serveStatic(req, res);
  });
  return new Promise((ok) => {
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      ok({ url, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [target, port] = process.argv.slice(2);
  if (!target) { console.error('usage: node web/serve.mjs <authgate-url> [port]'); process.exit(2); }
  const { url } = await startWebServer(target, Number(port ?? 5173));
  console.log(`page at ${url}/?mode=cookie and ${url}/?mode=header, API proxied to ${target}`);
}
