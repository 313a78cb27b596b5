// One small fetch helper for the same-origin JSON APIs: CSRF header, JSON bodies,
// server messages as errors, and retries for idempotent methods only (a retried
// POST could record something twice).

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** A request the server answered with an error status, or that never reached it (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly data: Record<string, unknown>;

  constructor(status: number, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.data = data;
  }

  /** Worth trying again: the network failed or the server was briefly unable to answer. */
  get transient(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface RequestOptions {
  method?: string;
  /** JSON body; a function is called again for every attempt so a retry sends the newest state. */
  body?: unknown | (() => unknown);
  /** Attempts after the first one for idempotent methods (default 4; Infinity: until it works). */
  retries?: number;
  /** Called before each wait between attempts. */
  onRetry?: (attempt: number, delayMs: number, error: ApiError) => void;
  /** Lets a request outlive the page (pagehide); the body must stay under 64 kB. */
  keepalive?: boolean;
  signal?: AbortSignal;
}

/** The CSRF token Django expects in `X-CSRFToken`: its cookie, else a form field on the page. */
export function csrfToken(): string {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  const field = document.querySelector<HTMLInputElement>("input[name=csrfmiddlewaretoken]");
  return field?.value ?? "";
}

/** Backoff before attempt `attempt` (1-based): doubling from 0.5 s, capped at 30 s, with jitter. */
export function backoffMs(attempt: number): number {
  const base = Math.min(30_000, 500 * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        window.clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function messageOf(status: number, data: Record<string, unknown>): string {
  if (typeof data.detail === "string" && data.detail) return data.detail;
  if (status >= 500) return "The server could not save this right now.";
  return `The request was refused (HTTP ${status}).`;
}

async function attempt<T>(url: string, method: string, options: RequestOptions): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: string | undefined;
  if (options.body !== undefined) {
    const value =
      typeof options.body === "function" ? (options.body as () => unknown)() : options.body;
    body = JSON.stringify(value);
    headers["Content-Type"] = "application/json";
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body,
      credentials: "same-origin",
      keepalive: options.keepalive,
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError(0, "No connection to the server.");
  }
  const text = await response.text();
  let data: Record<string, unknown> = {};
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        data = parsed as Record<string, unknown>;
      }
    } catch {
      // An HTML error page from a proxy: the status says enough.
    }
  }
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, data), data);
  return data as T;
}

/** Send one JSON request; resolves with the parsed body ({} for 204), rejects with ApiError. */
export async function apiRequest<T = Record<string, unknown>>(
  url: string,
  options: RequestOptions = {},
): Promise<T> {
  const method = (options.method ?? "GET").toUpperCase();
  const retries = IDEMPOTENT.has(method) ? (options.retries ?? 4) : 0;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt<T>(url, method, options);
    } catch (error) {
      if (!(error instanceof ApiError) || !error.transient || tries > retries) throw error;
      const delay = backoffMs(tries);
      options.onRetry?.(tries, delay, error);
      await sleep(delay, options.signal);
    }
  }
}
