import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The page is served by serve.mjs from the same origin as the (proxied) authgate API.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  logLevel: 'warn',
});
