// Entry of the blinded reading page: two linked viewports (A and B) and the scoring panel.
// Nothing here shows which side is which: the config names them only "A" and "B".
import "../viewer/viewer.css";
import "./reading.css";
import { ApiError, apiRequest, type Schema } from "../api";
import { el, readJsonConfig, showFatal } from "../viewer/dom";
import { bindViewerKeys } from "../viewer/keys";
import { ViewerPair, type ViewEvent } from "../viewer/pair";
import { buildToolbar } from "../viewer/toolbar";
import { Autosave, type SaveState } from "./autosave";
import type { ReadingConfig } from "./config";
import { ReadingLog } from "./log";
import { ScoringPanel } from "./panel";
import { prefetchNextCase } from "./prefetch";
import { FocusTimer } from "./timer";

function start(root: HTMLElement, config: ReadingConfig): void {
  const [first, second] = config.sides;
  if (!first || !second) throw new Error("The reading page needs two sides.");
  const viewports = el("div", { class: "viewport-pair" });
  const pair = new ViewerPair(
    viewports,
    [
      {
        key: first.label,
        regionName: `Viewport ${first.label}`,
        label: first.label,
        images: first.images,
      },
      {
        key: second.label,
        regionName: `Viewport ${second.label}`,
        label: second.label,
        images: second.images,
      },
    ],
    config.window,
  );
  const panel = new ScoringPanel(config);
  root.replaceChildren(
    el("div", { class: "viewer-column" }, [buildToolbar(pair), viewports]),
    panel.element,
  );
  bindViewerKeys(pair);

  const timer = new FocusTimer(config.seconds);
  let submitted = false;

  if (!config.read_only) {
    const log = new ReadingLog(config.api.log);
    pair.addEventListener("view", (event) => log.add((event as CustomEvent<ViewEvent>).detail));
    log.start();

    const autosave = new Autosave(
      config.api.answers,
      () => ({ ...panel.answers(), seconds: timer.seconds() }),
      (state: SaveState) => {
        if (state.kind === "saving") panel.setStatus("Saving…", "saving");
        else if (state.kind === "retrying") panel.setStatus("Not saved, retrying…", "retrying");
        else if (state.kind === "saved") panel.setStatus("Saved", "saved");
        else panel.setStatus(state.message, "error");
      },
    );
    panel.addEventListener("change", () => autosave.schedule());

    panel.addEventListener("submit", async () => {
      panel.setBusy(true);
      try {
        if (!(await autosave.flush())) return; // the save error is on show already
        void log.flush();
        panel.setStatus("Submitting…", "saving");
        const body: Schema<"SubmitInputRequest"> = { seconds: timer.seconds() };
        const { next_url } = await apiRequest<Schema<"Submitted">>(config.api.submit, {
          method: "POST",
          body,
        });
        submitted = true;
        void log.flush(true);
        window.location.assign(next_url);
      } catch (error) {
        if (error instanceof ApiError) {
          // A refusal (SubmitRefusal) lists the questions still to answer.
          const refusal = error.data as Partial<Schema<"SubmitRefusal">>;
          const missing = panel.describeMissing(refusal.missing);
          const hint =
            error.status === 0 ? " Check the connection and press Submit and next again." : "";
          panel.setStatus([error.message + hint, missing].filter(Boolean).join(" "), "error");
        } else {
          panel.setStatus("The answers could not be submitted. Try again.", "error");
        }
      } finally {
        if (!submitted) panel.setBusy(false);
      }
    });

    window.addEventListener("pagehide", () => {
      void log.flush(true);
      // Records the reading time of a visit that leaves without submitting.
      if (!submitted && timer.seconds() > config.seconds) autosave.sendOnExit();
    });
  }

  pair
    .start()
    .then(() => pair.loaded)
    .then(() => prefetchNextCase(config.next_prefetch))
    .catch(() => {
      // The viewports show their own message.
    });
}

const root = document.getElementById("reading-root");
if (root) {
  try {
    start(root, readJsonConfig<ReadingConfig>("reading-config"));
  } catch (error) {
    showFatal(
      root,
      "The reading page could not start. Reload the page; if this persists, tell the study's researcher.",
    );
    throw error;
  }
}
