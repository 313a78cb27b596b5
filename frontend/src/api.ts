// One small fetch helper for the same-origin JSON APIs: CSRF header, JSON (or binary)
// bodies, server messages as errors, and retries for idempotent methods only (a retried
// POST could record something twice). Every page module talks to the server through it.
//
// The shapes of requests and answers come from the REST API's OpenAPI schema
// (frontend/openapi.json, `make schema`): `npm run types` turns it into ./api/schema.d.ts.
import type { components } from "./api/schema";

/** A named schema of the REST API, e.g. `Schema<"UploadSession">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

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
  /**
   * JSON body, or a Blob sent as it is (application/octet-stream); a function is called
   * again for every attempt so a retry sends the newest state.
   */
  body?: unknown | (() => unknown);
  /** Extra request headers (a Content-Digest, say). */
  headers?: Record<string, string>;
  /**
   * Attempts after the first one for idempotent methods (default 4; Infinity: until it
   * works). Time spent waiting for the browser to come back online is not counted.
   */
  retries?: number;
  /** What the error says when the server gives no reason of its own (`detail`). */
  errorMessage?: string;
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

/** Resolves when the browser is back online (at once if it never went offline). */
function online(signal?: AbortSignal): Promise<void> {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      signal?.removeEventListener("abort", aborted);
      resolve();
    };
    const aborted = () => {
      window.removeEventListener("online", done);
      reject(signal?.reason);
    };
    window.addEventListener("online", done, { once: true });
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

function messageOf(status: number, data: Record<string, unknown>, fallback?: string): string {
  if (typeof data.detail === "string" && data.detail) return data.detail;
  if (fallback) return `${fallback} (HTTP ${status})`;
  if (status >= 500) return "The server could not save this right now.";
  return `The request was refused (HTTP ${status}).`;
}

async function attempt<T>(url: string, method: string, options: RequestOptions): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  let body: BodyInit | undefined;
  if (options.body !== undefined) {
    const value =
      typeof options.body === "function" ? (options.body as () => unknown)() : options.body;
    if (value instanceof Blob) {
      body = value;
      headers["Content-Type"] = "application/octet-stream";
    } else {
      body = JSON.stringify(value);
      headers["Content-Type"] = "application/json";
    }
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
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // An HTML error page from a proxy: the status says enough.
    }
  }
  const data =
    parsed && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  if (!response.ok) {
    throw new ApiError(response.status, messageOf(response.status, data, options.errorMessage), data);
  }
  // A list answers as a list; anything else that is no JSON object (204) as {}.
  return (Array.isArray(parsed) ? parsed : data) as T;
}

/**
 * Send one request; resolves with the parsed JSON body ({} for 204), rejects with ApiError.
 * `T` is the answer's schema, e.g. `apiRequest<Schema<"UploadSession">>(url)`.
 */
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
      if (!(error instanceof ApiError) || !error.transient || retries === 0) throw error;
      if (error.status === 0 && !navigator.onLine) {
        // Offline: wait for the line to come back, then try again without counting this one.
        options.onRetry?.(tries, 0, error);
        await online(options.signal);
        tries--;
        continue;
      }
      if (tries > retries) throw error;
      const delay = backoffMs(tries);
      options.onRetry?.(tries, delay, error);
      await sleep(delay, options.signal);
    }
  }
}
