import { defineConfig } from "vite";

/**
 * The dashboard's build: Preact with its automatic JSX runtime, bundled into dist/ui, which wharf
 * serves at `/`. Asset names carry their content hash, so wharf can let browsers keep them for good.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../dist/ui",
    emptyOutDir: true,
    target: "es2022",
    // wharf's CSP allows no inline script: keep every module in a file.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
});
