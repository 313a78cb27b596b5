import { defineConfig } from "vite";

// Django serves the build through django-vite, which reads the manifest.
// `base` must match STATIC_URL so asset URLs inside CSS/JS resolve.
// Cornerstone3D loads only on the pages that view images: the reading page and the case
// viewer have entries of their own, and the shared layout entry stays small.
export default defineConfig({
  base: "/static/",
  build: {
    manifest: true,
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      input: {
        main: "src/main.ts",
        reading: "src/reading/main.ts",
        case_viewer: "src/case_viewer/main.ts",
      },
      output: {
        // The viewer code and Cornerstone3D (vtk.js included), shared by the two viewing
        // pages, form one chunk named for what it does. Only named packages go in, so a
        // dependency the layout entry may import one day never drags the viewer along.
        manualChunks(id) {
          return /\/src\/viewer\/|\/node_modules\/(@cornerstonejs|@kitware)\//.test(id)
            ? "viewer"
            : undefined;
        },
      },
    },
    chunkSizeWarningLimit: 5000,
  },
  worker: { format: "es" },
  // The dev server only: the codecs' Emscripten glue is CommonJS-like and needs
  // pre-bundling, the loader itself must not be (its worker and wasm URLs would break),
  // and the metadata package must be one copy shared by core and the loader.
  optimizeDeps: {
    exclude: ["@cornerstonejs/dicom-image-loader"],
    include: [
      "@cornerstonejs/codec-charls/decodewasmjs",
      "@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs",
      "@cornerstonejs/codec-libjxl/decodewasmjs",
      "@cornerstonejs/codec-openjpeg/decodewasmjs",
      "@cornerstonejs/codec-openjph/wasmjs",
      "@cornerstonejs/metadata",
      "dicom-parser",
    ],
  },
});
