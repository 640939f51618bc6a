/// <reference types="vitest/config" />
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

const backend = process.env.DATAMESH_API ?? "http://127.0.0.1:8000";

/** The API docs page (/api/docs) loads Swagger UI from the server itself, never from a CDN:
 * the two files of the pinned npm package go into the build, under swagger/. */
function swaggerUi(): Plugin {
  return {
    name: "datamesh-swagger-ui",
    apply: "build",
    generateBundle() {
      for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
        const source = readFileSync(new URL(`./node_modules/swagger-ui-dist/${file}`, import.meta.url));
        this.emitFile({ type: "asset", fileName: `swagger/${file}`, source });
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), swaggerUi()],
  build: {
    // The Python package serves the built SPA (with an index.html fallback for non-/api paths).
    outDir: fileURLToPath(new URL("../src/datamesh/static", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    port: 5173,
    proxy: {
      "/api": { target: backend, changeOrigin: false, ws: false },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
