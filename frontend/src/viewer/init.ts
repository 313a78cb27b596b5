// The one place Cornerstone3D starts: core, the DICOM loader (with its decode workers)
// and the tools, once per page whatever number of viewers the page builds.
import { init as initCore } from "@cornerstonejs/core";
import { init as initDicomImageLoader } from "@cornerstonejs/dicom-image-loader";
import {
  addTool,
  init as initTools,
  PanTool,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
} from "@cornerstonejs/tools";

let started = false;

export function initCornerstone(): void {
  if (started) return;
  started = true;
  // No rendering options: core probes WebGL itself and falls back to CPU rendering when the
  // browser has none, which a forced GPU setting would defeat.
  initCore();
  const cores = navigator.hardwareConcurrency || 2;
  initDicomImageLoader({ maxWebWorkers: Math.max(1, Math.min(4, Math.floor(cores / 2))) });
  initTools();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) addTool(tool);
}

/** The loader's id for a DICOM Part 10 file at `url` (resolved against this page). */
export function imageIdOf(url: string): string {
  return `wadouri:${new URL(url, window.location.href).href}`;
}
