// The dashboard is a static single-page app: `vite build` writes dist/, which `micro server`
// serves on its dashboard address with the gateway under /api (see docs/dashboard.md).
import { defineConfig } from "vite";

export default defineConfig({
  root: "web",
  base: "/",
  // JSX for Preact without a plugin: oxc's automatic runtime, importing from preact/jsx-runtime.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev`: proxy the API to a running `micro server` dashboard listener
    proxy: { "/api": { target: "http://127.0.0.1:8082", ws: true } },
  },
});
