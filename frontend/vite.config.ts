import { defineConfig } from "vite";

// Django serves the build through django-vite, which reads the manifest.
// `base` must match STATIC_URL so asset URLs inside CSS/JS resolve.
export default defineConfig({
  base: "/static/",
  build: {
    manifest: true,
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      input: { main: "src/main.ts" },
    },
  },
  worker: { format: "es" },
});
