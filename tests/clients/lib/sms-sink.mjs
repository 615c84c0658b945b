// A local stand-in for a Twilio-style SMS API (form POST of To/From/Body with basic auth):
// authgate's HTTP SMS sender posts to it, the tests read the codes it received.
import { createServer } from 'node:http';

export async function startSmsSink() {
  const messages = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      messages.push({ path: req.url, auth: req.headers.authorization, to: form.get('To'), from: form.get('From'), body: form.get('Body') });
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sid: `SM${messages.length}`, status: 'queued' }));
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${server.address().port}/2010-04-01/Accounts/{account_sid}/Messages.json`;
  return {
    url,
    messages,
    /** The code in the next message to `to` after index `from`. */
    async waitForCode(to, from = 0, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const m = messages.slice(from).find((x) => x.to === to);
        const code = m?.body.match(/(?<!\d)(\d{6})(?!\d)/)?.[1];
        if (code) return { ...m, code };
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no SMS to ${to}: ${JSON.stringify(messages)}`);
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}
