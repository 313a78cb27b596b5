// The upload API of the server (reader_study/uploads/api.py) through the shared request
// helper: CSRF, the server's reasons as errors, and retries with backoff for the
// idempotent requests (chunk and batch PUTs, the list, discarding), so a flaky line
// costs a wait, not the upload. A POST (start, announce, ingest) is tried once.
import { ApiError, apiRequest, type Schema } from "./api";

export type FileCheck = Schema<"FileCheck">;
export type ServerFile = Schema<"UploadFile">;
export type Session = Schema<"UploadSessionSummary">;

/**
 * What an ingest answers: its report (IngestReport; IngestRefusal when nothing was stored),
 * a bare refusal (Error), or nothing readable (a proxy's error page): any part may be absent.
 */
export type Report = Partial<Schema<"IngestRefusal">>;

// The upload's requests outlast a dropped line for about as long as before (1-16 s waits);
// offline time is not counted at all.
const RETRIES = 6;

// RFC 9530 Content-Digest of a body, so the server can tell bytes damaged on the way.
async function digestHeader(data: Blob): Promise<Record<string, string>> {
  if (!globalThis.crypto?.subtle) return {}; // plain-HTTP pages other than localhost have no WebCrypto
  const digest = await crypto.subtle.digest("SHA-256", await data.arrayBuffer());
  return { "Content-Digest": `sha-256=:${btoa(String.fromCharCode(...new Uint8Array(digest)))}:` };
}

export class UploadApi {
  constructor(private readonly root: string) {}

  openSessions(): Promise<Session[]> {
    return apiRequest<Session[]>(this.root, { retries: RETRIES });
  }

  start(label: string): Promise<Session> {
    const body: Schema<"UploadSessionInputRequest"> = { label };
    return apiRequest<Schema<"UploadSession">>(this.root, { method: "POST", body });
  }

  async discard(id: string): Promise<void> {
    await apiRequest(`${this.root}${id}/`, { method: "DELETE", retries: RETRIES });
  }

  async announce(id: string, files: Schema<"AnnouncedFileRequest">[]): Promise<ServerFile[]> {
    const out: ServerFile[] = [];
    // Batches keep each JSON request small for folders of thousands of files.
    for (let start = 0; start < files.length; start += 500) {
      const body: Schema<"AnnounceFilesInputRequest"> = { files: files.slice(start, start + 500) };
      const answer = await apiRequest<Schema<"UploadFileList">>(`${this.root}${id}/files/`, {
        method: "POST",
        body,
      });
      out.push(...answer.files);
    }
    return out;
  }

  // The answer carries the file's check once its last chunk is in (null before, and for archives).
  async putChunk(id: string, file: ServerFile, index: number, data: Blob): Promise<FileCheck | null> {
    const answer = await apiRequest<Schema<"ChunkReceipt">>(`${this.root}${id}/files/${file.id}/chunks/${index}`, {
      method: "PUT",
      body: data,
      headers: await digestHeader(data),
      retries: RETRIES,
      errorMessage: `chunk ${index} of ${file.name} failed`,
    });
    return answer.check ?? null;
  }

  // Whole one-chunk files in one request, one after the other; their checks, in the same order.
  async putBatch(id: string, files: ServerFile[], data: Blob[]): Promise<(FileCheck | null)[]> {
    const body = new Blob(data);
    const ids = files.map((file) => file.id).join(",");
    const answer = await apiRequest<Schema<"ChunkReceiptList">>(`${this.root}${id}/batch/?files=${ids}`, {
      method: "PUT",
      body,
      headers: await digestHeader(body),
      retries: RETRIES,
      errorMessage: `sending ${files.length} files failed`,
    });
    const checks = new Map((answer.files ?? []).map((item) => [item.file, item.check]));
    return files.map((file) => checks.get(file.id) ?? null);
  }

  // A refused ingest is no failure here: its answer is a report to show, whatever the status
  // (`detail` says why when the answer holds no report). Only a lost connection throws.
  async ingest(id: string, options: Schema<"IngestInputRequest">): Promise<Report> {
    try {
      return await apiRequest<Schema<"IngestReport">>(`${this.root}${id}/ingest/`, {
        method: "POST",
        body: options,
        errorMessage: "The upload could not be checked and stored",
      });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 0) throw error;
      return { detail: error.message, ...(error.data as Report) };
    }
  }
}
