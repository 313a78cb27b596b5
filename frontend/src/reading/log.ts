// The viewing log: what the reader did with the images, sent in batches. Streams of the
// same action on the same side (a drag, a fast scroll) collapse into their end point, while
// a pause keeps its own entry, so the log shows where the reader stopped to look.
import { ApiError, apiRequest, type Schema } from "../api";
import type { ViewEvent } from "../viewer/pair";

type LogEntry = [number, string, ...(string | number | boolean)[]];

const FLUSH_EVERY_MS = 10_000;
/** Consecutive same-kind, same-side events closer than this are one movement. */
const COALESCE_MS = 300;
/** Keep at most this many unsent entries while the server cannot be reached. */
const MAX_PENDING = 5_000;
/** Entries per keepalive request: its body must stay under 64 kB. */
const KEEPALIVE_BATCH = 500;

function entryOf(time: number, event: ViewEvent): LogEntry {
  switch (event.kind) {
    case "slice":
      return [time, "slice", event.side, event.index];
    case "voi":
      return [time, "voi", event.side, event.width, event.center];
    case "zoom":
      return [time, "zoom", event.side, event.zoom];
    case "pan":
      return [time, "pan", event.side];
    case "preset":
      return [time, "preset", event.key];
    case "link":
      return [time, "link", event.linked];
    case "reset":
      return [time, "reset"];
  }
}

const SIDED = new Set(["slice", "voi", "zoom", "pan"]);

export class ReadingLog {
  private readonly url: string;
  private pending: LogEntry[] = [];
  private sending = false;

  constructor(url: string) {
    this.url = url;
  }

  start(): void {
    window.setInterval(() => void this.flush(), FLUSH_EVERY_MS);
  }

  add(event: ViewEvent): void {
    // Milliseconds since the page started loading, as the log's contract counts them.
    const time = Math.round(performance.now());
    const entry = entryOf(time, event);
    const last = this.pending[this.pending.length - 1];
    if (
      last &&
      SIDED.has(entry[1]) &&
      last[1] === entry[1] &&
      last[2] === entry[2] &&
      time - last[0] < COALESCE_MS
    ) {
      this.pending[this.pending.length - 1] = entry;
    } else {
      this.pending.push(entry);
      if (this.pending.length > MAX_PENDING)
        this.pending.splice(0, this.pending.length - MAX_PENDING);
    }
  }

  /** Send what is pending; with `keepalive` the request outlives the page. */
  async flush(keepalive = false): Promise<void> {
    if (!this.pending.length || (this.sending && !keepalive)) return;
    const batchSize = keepalive ? KEEPALIVE_BATCH : this.pending.length;
    while (this.pending.length) {
      const events = this.pending.splice(0, batchSize);
      this.sending = true;
      try {
        const body: Schema<"EventsInputRequest"> = { events };
        await apiRequest(this.url, { method: "POST", body, keepalive });
      } catch (error) {
        // A log POST is not retried by the helper (POST is not idempotent); entries that
        // did not reach the server go back in front and ride with the next batch.
        if (error instanceof ApiError && error.transient) this.pending.unshift(...events);
        return;
      } finally {
        this.sending = false;
      }
      if (!keepalive) return;
    }
  }
}
