// The upload API of the server (reader_study/uploads/api.py), with retries for flaky lines.

// What the server found when the whole file was in: accepted (de-identified) or refused.
export interface FileCheck {
  status: "accepted" | "rejected";
  reason: string;
}

export interface ServerFile {
  id: number;
  name: string;
  size: number;
  chunk_bytes: number;
  chunks: number;
  received: number[];
  check: FileCheck | null;
}

export interface Session {
  id: string;
  label: string;
  status: string;
  file_count: number;
  bytes_total: number;
  bytes_received: number;
  files?: ServerFile[];
}

export interface FileResult {
  name: string;
  status: "accepted" | "duplicate" | "skipped" | "rejected";
  reason: string;
}

export interface Report {
  ok: boolean;
  message: string;
  detail?: string;
  files: FileResult[];
  warnings: string[];
  counts: Record<string, number>;
  case: { id: number; label: string; url: string; created?: boolean } | null;
  series_choices: { series_instance_uid: string; description: string; files: number; size: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// RFC 9530 Content-Digest of a body, so the server can tell bytes damaged on the way.
async function digestHeader(data: Blob): Promise<Record<string, string>> {
  if (!globalThis.crypto?.subtle) return {}; // plain-HTTP pages other than localhost have no WebCrypto
  const digest = await crypto.subtle.digest("SHA-256", await data.arrayBuffer());
  return { "Content-Digest": `sha-256=:${btoa(String.fromCharCode(...new Uint8Array(digest)))}:` };
}

// The JSON of a successful answer; an ApiError with the server's reason otherwise.
async function answer<T>(response: Response, fallback: string): Promise<T | null> {
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, (body as { detail?: string } | null)?.detail ?? fallback);
  return body as T | null;
}

export class UploadApi {
  constructor(private readonly root: string) {}

  // Network failures and 5xx are retried with backoff; 4xx are final (the message says why).
  private async request(method: string, path: string, body?: BodyInit, type?: string, extra?: Record<string, string>): Promise<Response> {
    const headers: Record<string, string> = { "X-CSRFToken": csrfToken(), Accept: "application/json", ...extra };
    if (type) headers["Content-Type"] = type;
    let delay = 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(this.root + path, { method, body, headers, credentials: "same-origin" });
        if (response.status < 500 || attempt >= 6) return response;
      } catch (error) {
        if (attempt >= 6 && navigator.onLine) throw error;
        if (!navigator.onLine) await new Promise((resolve) => window.addEventListener("online", resolve, { once: true }));
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 30000);
    }
  }

  private async json<T>(method: string, path: string, payload?: unknown): Promise<T> {
    const response = await this.request(method, path, payload === undefined ? undefined : JSON.stringify(payload), "application/json");
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const detail = (body as { detail?: string } | null)?.detail ?? `${response.status} ${response.statusText}`;
      throw new ApiError(response.status, detail, body);
    }
    return body as T;
  }

  openSessions(): Promise<Session[]> {
    return this.json("GET", "");
  }

  start(label: string): Promise<Session> {
    return this.json("POST", "", { label });
  }

  discard(id: string): Promise<null> {
    return this.json("DELETE", `${id}/`);
  }

  async announce(id: string, files: { name: string; size: number }[]): Promise<ServerFile[]> {
    const out: ServerFile[] = [];
    // Batches keep each JSON request small for folders of thousands of files.
    for (let start = 0; start < files.length; start += 500) {
      const body = await this.json<{ files: ServerFile[] }>("POST", `${id}/files/`, { files: files.slice(start, start + 500) });
      out.push(...body.files);
    }
    return out;
  }

  // The answer carries the file's check once its last chunk is in (null before, and for archives).
  async putChunk(id: string, file: ServerFile, index: number, data: Blob): Promise<FileCheck | null> {
    const response = await this.request("PUT", `${id}/files/${file.id}/chunks/${index}`, data, "application/octet-stream", await digestHeader(data));
    const body = await answer<{ check?: FileCheck | null }>(response, `chunk ${index} of ${file.name} failed`);
    return body?.check ?? null;
  }

  // Whole one-chunk files in one request, one after the other; their checks, in the same order.
  async putBatch(id: string, files: ServerFile[], data: Blob[]): Promise<(FileCheck | null)[]> {
    const body = new Blob(data);
    const ids = files.map((file) => file.id).join(",");
    const response = await this.request("PUT", `${id}/batch/?files=${ids}`, body, "application/octet-stream", await digestHeader(body));
    const result = await answer<{ files: { file: number; check: FileCheck | null }[] }>(response, `sending ${files.length} files failed`);
    const checks = new Map((result?.files ?? []).map((item) => [item.file, item.check]));
    return files.map((file) => checks.get(file.id) ?? null);
  }

  async ingest(id: string, options: { strict: boolean; series_instance_uid?: string }): Promise<{ status: number; report: Report }> {
    const response = await this.request("POST", `${id}/ingest/`, JSON.stringify(options), "application/json");
    const report = (await response.json().catch(() => ({}))) as Report;
    return { status: response.status, report };
  }
}
