import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The staff console's build. Output in web/dist, served by the API process (src/modules/console).
 * The manifest lets scripts/web-build-report.ts measure the first load; no module-preload polyfill
 * (every supported browser has modulepreload, and it would be one more script to allow).
 */
export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: true,
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:2271' } },
});
