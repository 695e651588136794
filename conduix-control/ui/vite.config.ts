import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The control plane serves index.html at "/" and the bundle under "/assets/..."; the UI uses hash routes,
// so no UI path ever collides with an API path. `npm run dev` proxies the API to a local control plane.
const API = process.env.CONDUIX_CONTROL_URL ?? "http://127.0.0.1:8470";
const apiPaths = ["/pipelines", "/agents", "/commands", "/runs", "/assignments", "/schedules", "/auth", "/health"];

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "../src/conduix_control/webui/dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    port: 5173,
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: API, changeOrigin: false }])),
  },
  preview: {
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: API, changeOrigin: false }])),
  },
});
