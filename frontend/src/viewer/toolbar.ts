// The row of view controls above the viewports: window presets, linking, reset.
import { el } from "./dom";
import type { ViewerPair } from "./pair";

export function buildToolbar(pair: ViewerPair, extra: HTMLElement[] = []): HTMLElement {
  const { window: config } = pair;
  const presetButtons = config.change_allowed
    ? config.presets.map((preset, index) => {
        const button = el(
          "button",
          {
            type: "button",
            class: "tool-button",
            "aria-pressed": "false",
            title: `Window ${preset.label} (key ${index + 1})`,
          },
          [preset.label],
        );
        button.addEventListener("click", () => pair.applyPreset(preset));
        return { preset, button };
      })
    : [];
  const fixed = config.change_allowed
    ? []
    : [
        el("span", { class: "tool-note" }, [
          `Window: ${pair.currentPreset.label} (set by the study)`,
        ]),
      ];
  const link = el(
    "button",
    { type: "button", class: "tool-button", "aria-pressed": "true", title: "Link viewports (L)" },
    ["Link viewports"],
  );
  link.addEventListener("click", () => pair.setLinked(!pair.linked));
  const reset = el(
    "button",
    { type: "button", class: "tool-button", title: "Reset (R or Space)" },
    ["Reset"],
  );
  reset.addEventListener("click", () => pair.reset());

  const sync = () => {
    for (const { preset, button } of presetButtons) {
      button.setAttribute("aria-pressed", String(preset.key === pair.presetShown?.key));
    }
    link.setAttribute("aria-pressed", String(pair.linked));
  };
  pair.addEventListener("statechange", sync);
  sync();

  // A plain container: each button names itself, and a site framework's styles for
  // role="group" (joined button bars) would reshape the row.
  return el("div", { class: "viewer-toolbar" }, [
    el("div", { class: "tool-set" }, [...presetButtons.map((p) => p.button), ...fixed]),
    el("div", { class: "tool-set" }, [link, reset, ...extra]),
  ]);
}
