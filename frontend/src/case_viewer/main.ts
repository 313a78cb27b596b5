// Entry of the researcher's case viewer: original and denoised series side by side,
// linked, with the difference image on demand. Unblinded: the labels name the model.
import "../viewer/viewer.css";
import "./case_viewer.css";
import { el, readJsonConfig, showFatal } from "../viewer/dom";
import { bindViewerKeys } from "../viewer/keys";
import { ViewerPair } from "../viewer/pair";
import { DIFFERENCE_WINDOW, type WindowConfig } from "../viewer/presets";
import { buildToolbar } from "../viewer/toolbar";

interface Series {
  label: string;
  images: string[];
}

interface CaseViewerConfig {
  sides: Series[];
  difference: Series | null;
  window: WindowConfig;
}

function differenceToggle(
  pair: ViewerPair,
  denoised: Series,
  difference: Series,
): HTMLButtonElement {
  // Enabled once the pair has shown its first images: swapping a stack mid-start would race.
  const button = el(
    "button",
    { type: "button", class: "tool-button", "aria-pressed": "false", disabled: true },
    ["Show difference"],
  );
  let showing = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    showing = !showing;
    button.setAttribute("aria-pressed", String(showing));
    try {
      if (showing)
        await pair.replaceStack(1, difference.images, difference.label, DIFFERENCE_WINDOW);
      else await pair.replaceStack(1, denoised.images, denoised.label, null);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function start(root: HTMLElement, config: CaseViewerConfig): void {
  const [original, denoised] = config.sides;
  if (!original || !denoised) throw new Error("The case viewer needs two series.");
  const viewports = el("div", { class: "viewport-pair" });
  // Fixed region names: the labels carry the model's name and version, which change.
  const pair = new ViewerPair(
    viewports,
    [
      {
        key: "Original",
        regionName: "Viewport Original",
        label: original.label,
        images: original.images,
      },
      {
        key: "Denoised",
        regionName: "Viewport Denoised",
        label: denoised.label,
        images: denoised.images,
      },
    ],
    config.window,
  );
  const toggle = config.difference ? differenceToggle(pair, denoised, config.difference) : null;
  const extra = toggle ? [toggle] : [];
  root.replaceChildren(
    el("div", { class: "viewer-column" }, [buildToolbar(pair, extra), viewports]),
  );
  bindViewerKeys(pair);
  pair
    .start()
    .then(() => {
      if (toggle) toggle.disabled = false;
    })
    .catch(() => {
      // The viewports show their own message.
    });
}

const root = document.getElementById("case-viewer");
if (root) {
  try {
    start(root, readJsonConfig<CaseViewerConfig>("case-viewer-config"));
  } catch (error) {
    showFatal(root, "The viewer could not start. Reload the page.");
    throw error;
  }
}
