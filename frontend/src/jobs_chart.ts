// A small SVG line chart of training losses (per logged iteration) and validation PSNR
// (per epoch, right axis). No chart library: a few lines of SVG are enough here.
import type { Schema } from "./api";

/**
 * One entry of a training job's history. The API schema leaves the entries open
 * (`TrainingJob.history`); these are the keys the trainer logs and the chart reads.
 */
export type HistoryEntry = Schema<"TrainingJob">["history"][number] & {
  kind: "iteration" | "epoch" | "warm_start";
  epoch?: number;
  iteration: number;
  losses?: Record<string, number>;
  metrics?: Record<string, number>;
  rmse_hu?: number; // warm start: noise left on its synthetic task
};

const SVG = "http://www.w3.org/2000/svg";
const W = 640;
const H = 240;
const PAD = 36;
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];

function el(name: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function scale(values: number[], low: number, high: number): (v: number) => number {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  return (v) => low + ((v - min) / span) * (high - low);
}

function line(points: [number, number][], colour: string): SVGElement {
  const d = points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  return el("path", { d, fill: "none", stroke: colour, "stroke-width": 1.5 });
}

export function drawTrainingChart(host: HTMLElement, history: HistoryEntry[], keys: string[]): void {
  const iterations = history.filter((h) => h.kind === "iteration" && h.losses);
  const epochs = history.filter((h) => h.kind === "epoch" && h.metrics && "psnr" in h.metrics!);
  host.replaceChildren();
  if (iterations.length === 0) {
    // The denoiser's warm start runs before the CycleGAN logs any loss.
    const warm = history.filter((h) => h.kind === "warm_start").pop();
    host.textContent = warm
      ? `Warm start of the denoiser: iteration ${warm.iteration}, ` +
        `${(warm.rmse_hu ?? 0).toFixed(1)} HU of synthetic noise left.`
      : "No losses logged yet.";
    return;
  }
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", "aria-hidden": "true" });
  const xs = iterations.map((h) => h.iteration);
  const x = scale([0, ...xs], PAD, W - PAD);
  const shown = keys.filter((k) => iterations.some((h) => h.losses![k] !== undefined));
  const all = shown.flatMap((k) => iterations.map((h) => h.losses![k]).filter((v) => v !== undefined));
  const y = scale(all, H - PAD, PAD);
  svg.append(el("line", { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, stroke: "currentColor" }));
  svg.append(el("line", { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD, stroke: "currentColor" }));
  const legend = document.createElement("p");
  legend.className = "chart-legend";
  shown.forEach((key, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = iterations
      .filter((h) => h.losses![key] !== undefined)
      .map((h) => [x(h.iteration), y(h.losses![key])] as [number, number]);
    svg.append(line(points, colour));
    const item = document.createElement("span");
    item.style.color = colour;
    item.textContent = `— ${key} `;
    legend.append(item);
  });
  if (epochs.length) {
    const psnr = epochs.map((h) => h.metrics!.psnr);
    const yp = scale(psnr, H - PAD, PAD);
    for (const h of epochs) {
      svg.append(el("circle", { cx: x(h.iteration), cy: yp(h.metrics!.psnr), r: 4, fill: "#ff7f0e" }));
    }
    const item = document.createElement("span");
    item.style.color = "#ff7f0e";
    item.textContent = `● validation PSNR ${Math.min(...psnr).toFixed(2)}–${Math.max(...psnr).toFixed(2)} dB`;
    legend.append(item);
  }
  const label = el("text", { x: W - PAD, y: H - 8, "text-anchor": "end", "font-size": 11, fill: "currentColor" });
  label.textContent = `iteration (last ${Math.max(...xs)})`;
  svg.append(label);
  host.append(svg, legend);
}
