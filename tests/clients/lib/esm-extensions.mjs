// Node resolve hook for one packaging bug of @ackplus/nest-auth-client 2.11.1 (and
// nest-auth-react): the published ES modules import their own files without extensions
// (`import … from '../types/config.types'`). Bundlers (Vite, webpack) resolve that; plain Node
// refuses with ERR_MODULE_NOT_FOUND. This hook retries such relative imports, and only those
// made from inside node_modules/@ackplus/, with `.js` (then `/index.js`).
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const fromSdk = context.parentURL?.includes('/node_modules/@ackplus/');
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !fromSdk || !relative || /\.[cm]?js$/.test(specifier)) throw err;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await nextResolve(specifier + suffix, context);
      } catch { /* try the next form */ }
    }
    throw err;
  }
}
