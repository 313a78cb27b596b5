// The text drawn over each viewport (side label, slice counter, window) and its loading
// bar. Only what the config names the side is shown: never a file name or URL.
import { el } from "./dom";
import type { LoadProgress } from "./loading";
import { formatWindowLevel, type WindowLevel } from "./presets";

export class ViewportOverlay {
  private readonly label: HTMLElement;
  private readonly slice: HTMLElement;
  private readonly window: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly barFill: HTMLElement;
  private readonly message: HTMLElement;
  private readonly sideName: string;

  constructor(region: HTMLElement, label: string, sideName: string) {
    this.sideName = sideName;
    this.label = el("span", { class: "overlay-label" }, [label]);
    this.slice = el("span", { class: "overlay-slice", "data-slice": "" });
    this.window = el("span", { class: "overlay-window", "data-window": "" });
    this.message = el("p", { class: "overlay-message", role: "status", hidden: true });
    this.barFill = el("div", { class: "overlay-progress-fill" });
    this.bar = el(
      "div",
      {
        class: "overlay-progress",
        role: "progressbar",
        "aria-label": `Loading images ${sideName}`,
        "aria-valuemin": 0,
        "aria-valuemax": 1,
        "aria-valuenow": 0,
      },
      [this.barFill],
    );
    region.append(
      el("div", { class: "viewport-overlay" }, [
        el("div", { class: "overlay-top" }, [this.label]),
        this.message,
        el("div", { class: "overlay-bottom" }, [this.slice, this.window]),
        this.bar,
      ]),
    );
  }

  setLabel(label: string): void {
    this.label.textContent = label;
  }

  setSlice(index: number, total: number): void {
    this.slice.textContent = `${index + 1} / ${total}`;
  }

  setWindow(windowLevel: WindowLevel): void {
    this.window.textContent = formatWindowLevel(windowLevel);
  }

  setProgress({ loaded, failed, total }: LoadProgress): void {
    const done = loaded + failed;
    this.bar.hidden = done >= total;
    this.bar.setAttribute("aria-valuemax", String(total));
    this.bar.setAttribute("aria-valuenow", String(done));
    this.bar.setAttribute("aria-valuetext", `${loaded} of ${total} images loaded`);
    this.barFill.style.width = total ? `${(100 * done) / total}%` : "0";
    if (failed) {
      this.showMessage(
        `${failed} of ${total} images of ${this.sideName} could not be loaded. Reload the page to try again.`,
      );
    }
  }

  showMessage(text: string): void {
    this.message.textContent = text;
    this.message.hidden = false;
  }
}
