/**
 * Builds the web console into dist/console, which `hsmkms serve` serves at /console and the npm
 * package ships (`npm run build` runs this after the server's tsc).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The JSX import source the console's .tsx files compile against: React's runtime, text escaped. */
const SHOWN_TEXT = 'hsmkms-shown-text';

export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  // No data: URIs: the Content-Security-Policy allows images and fonts from 'self' only.
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    // Chromium, Firefox and Safari of the last years support module preload natively.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      onLog(level, log, handler) {
        // React Router marks its modules "use client" for server components; a browser-only bundle has none.
        if (log.code === 'MODULE_LEVEL_DIRECTIVE') return;
        handler(level, log);
      },
    },
  },
  // Every element the console's own code creates shows its text escaped (console/src/shown-text).
  oxc: { jsx: { runtime: 'automatic', importSource: SHOWN_TEXT } },
  resolve: {
    alias: [
      { find: `${SHOWN_TEXT}/jsx-runtime`, replacement: fileURLToPath(new URL('./src/shown-text/jsx-runtime.ts', import.meta.url)) },
      { find: `${SHOWN_TEXT}/jsx-dev-runtime`, replacement: fileURLToPath(new URL('./src/shown-text/jsx-dev-runtime.ts', import.meta.url)) },
    ],
  },
});
