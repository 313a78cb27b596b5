// Saves the whole answer set shortly after every change. PUT replaces the set, so a retry
// or a repeat cannot duplicate a score. One request at a time: a newer change waits for
// the request in flight, so an older answer set can never land after a newer one.
import { ApiError, apiRequest, type Schema } from "../api";

/** The whole answer set as the answers endpoint takes it. */
export type AnswerSet = Schema<"AnswersInputRequest">;

export type SaveState =
  | { kind: "saving" }
  | { kind: "saved"; complete: boolean; missing: Schema<"AnswersSaved">["missing"] }
  | { kind: "retrying" }
  | { kind: "error"; message: string };

export class Autosave {
  private readonly url: string;
  private readonly snapshot: () => AnswerSet;
  private readonly onState: (state: SaveState) => void;
  private readonly delayMs: number;
  private dirty = false;
  private timer: number | undefined;
  private inFlight: Promise<boolean> | null = null;
  private lastOk = true;

  constructor(
    url: string,
    snapshot: () => AnswerSet,
    onState: (state: SaveState) => void,
    delayMs = 300,
  ) {
    this.url = url;
    this.snapshot = snapshot;
    this.onState = onState;
    this.delayMs = delayMs;
  }

  /** Note a change; it is sent once the answers have been still for a moment. */
  schedule(): void {
    this.dirty = true;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.send(), this.delayMs);
  }

  /** Send what is pending now and wait until the newest answers are stored; false on refusal. */
  async flush(): Promise<boolean> {
    window.clearTimeout(this.timer);
    // A refused or failed save is tried again: Submit must not go ahead on unsaved answers.
    if (!this.lastOk) this.dirty = true;
    while (this.dirty || this.inFlight) {
      if (this.inFlight) await this.inFlight;
      else await this.send();
      if (!this.lastOk) return false;
    }
    return this.lastOk;
  }

  /** Last chance as the page goes away: the current answers (and seconds) with keepalive. */
  sendOnExit(): void {
    window.clearTimeout(this.timer);
    void apiRequest(this.url, {
      method: "PUT",
      body: this.snapshot(),
      keepalive: true,
      retries: 0,
    }).catch(() => {
      // The page is gone; the answers sent earlier stand.
    });
  }

  private send(): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    this.onState({ kind: "saving" });
    this.inFlight = apiRequest<Schema<"AnswersSaved">>(this.url, {
      method: "PUT",
      // Read for every attempt: a retry carries the newest answers, not the ones that failed.
      body: () => {
        this.dirty = false;
        return this.snapshot();
      },
      retries: Infinity,
      onRetry: () => this.onState({ kind: "retrying" }),
    })
      .then((response) => {
        this.lastOk = true;
        if (!this.dirty) {
          this.onState({
            kind: "saved",
            complete: response.complete,
            missing: response.missing,
          });
        }
        return true;
      })
      .catch((error: unknown) => {
        this.lastOk = false;
        const message =
          error instanceof ApiError ? error.message : "The answers could not be saved.";
        this.onState({ kind: "error", message });
        return false;
      })
      .finally(() => {
        this.inFlight = null;
        // Changes made while this request was out go in the next one.
        if (this.dirty && this.lastOk) this.schedule();
      });
    return this.inFlight;
  }
}
