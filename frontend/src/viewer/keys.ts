// Workstation hotkeys a radiologist already knows: arrows and Page keys scroll, Home/End
// jump, 1-5 choose a window preset, R or Space reset, L links or unlinks the viewports.
import type { ViewerPair } from "./pair";
import { presetForDigit } from "./presets";

const PAGE_STEP = 10;

// Keys that a focused control uses itself: a radio group moves with the arrows, a button
// presses with Space or Enter. The viewer leaves those to the control.
const RADIO_KEYS = new Set([
  "ArrowUp",
  "ArrowDown",
  "ArrowLeft",
  "ArrowRight",
  " ",
  "Home",
  "End",
  "PageUp",
  "PageDown",
]);
const BUTTON_KEYS = new Set([" ", "Enter"]);

function controlOwnsKey(target: EventTarget | null, key: string): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    if (target.type === "radio" || target.type === "checkbox") return RADIO_KEYS.has(key);
    if (target.type === "button" || target.type === "submit" || target.type === "reset")
      return BUTTON_KEYS.has(key);
    return true; // text-like inputs take every key
  }
  if (
    target instanceof HTMLButtonElement ||
    target instanceof HTMLAnchorElement ||
    target.tagName === "SUMMARY"
  ) {
    return BUTTON_KEYS.has(key);
  }
  return false;
}

/** Install the hotkeys for `pair` on the document; returns a function that removes them. */
export function bindViewerKeys(pair: ViewerPair): () => void {
  const onKeyDown = (event: KeyboardEvent) => {
    // No check of defaultPrevented: Cornerstone's own key listener on the viewport element
    // prevents the default of every key pressed there.
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (controlOwnsKey(event.target, event.key)) return;
    let handled = true;
    switch (event.key) {
      case "ArrowUp":
        pair.scrollBy(-1);
        break;
      case "ArrowDown":
        pair.scrollBy(1);
        break;
      case "PageUp":
        pair.scrollBy(-PAGE_STEP);
        break;
      case "PageDown":
        pair.scrollBy(PAGE_STEP);
        break;
      case "Home":
        pair.scrollTo(0);
        break;
      case "End":
        pair.scrollToEnd();
        break;
      case "r":
      case "R":
      case " ":
        pair.reset();
        break;
      case "l":
      case "L":
        pair.setLinked(!pair.linked);
        break;
      default: {
        const digit = /^[1-9]$/.test(event.key) ? Number(event.key) : 0;
        const preset =
          digit && pair.window.change_allowed ? presetForDigit(pair.window, digit) : undefined;
        if (preset) pair.applyPreset(preset);
        else handled = false;
      }
    }
    if (handled) event.preventDefault();
  };
  document.addEventListener("keydown", onKeyDown);
  return () => document.removeEventListener("keydown", onKeyDown);
}
