// The upload page: pick or drop files/folders/zips, send them in parallel chunks that
import "./upload.css";
// survive a dropped line or a reloaded page, then show the server's per-file report.
import { filesFromDrop, filesFromInput, merge, type PickedFile } from "./upload-files";
import { ApiError } from "./api";
import { UploadApi, type FileCheck, type Report, type ServerFile, type Session } from "./upload-api";
import { formatBytes, formatSeconds, Rate } from "./upload-progress";

const PARALLEL = 4;
// Small files per request: fewer requests, while every parallel request still has work.
const BATCH_FILES = 8;

interface Row {
  picked: PickedFile;
  server: ServerFile;
  sent: number;
  bar: HTMLProgressElement;
  status: HTMLElement;
}

// What one request sends: a chunk of a file, or several whole one-chunk files.
type Send = { row: Row; index: number } | { rows: Row[] };

function batches(rows: Row[]): Send[] {
  const most = Math.max(1, Math.min(BATCH_FILES, Math.ceil(rows.length / PARALLEL)));
  const out: Send[] = [];
  let batch: Row[] = [];
  let bytes = 0;
  for (const row of rows) {
    // A batch stays within one chunk's size, the most the server reads in one request.
    if (batch.length === most || (batch.length > 0 && bytes + row.server.size > row.server.chunk_bytes)) {
      out.push({ rows: batch });
      batch = [];
      bytes = 0;
    }
    batch.push(row);
    bytes += row.server.size;
  }
  if (batch.length > 0) out.push({ rows: batch });
  return out;
}

function el<T extends HTMLElement>(root: ParentNode, selector: string): T {
  const found = root.querySelector<T>(selector);
  if (!found) throw new Error(`upload page: missing ${selector}`);
  return found;
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, text = "", className = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  if (className) node.className = className;
  return node;
}

class UploadPage {
  private picked: PickedFile[] = [];
  private session: Session | null = null;
  private rows: Row[] = [];
  private paused = false;
  private resumeWaiters: (() => void)[] = [];
  private rate = new Rate();
  private readonly api: UploadApi;

  constructor(private readonly root: HTMLElement) {
    this.api = new UploadApi(root.dataset.apiRoot ?? "/api/uploads/");
  }

  async init(): Promise<void> {
    const form = el<HTMLFormElement>(this.root, "[data-upload-form]");
    const zone = el<HTMLElement>(this.root, "[data-drop-zone]");
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("drag-over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("drag-over"));
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      zone.classList.remove("drag-over");
      if (event.dataTransfer) this.add(await filesFromDrop(event.dataTransfer));
    });
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        el<HTMLInputElement>(this.root, "[data-pick-files]").click();
      }
    });
    for (const selector of ["[data-pick-files]", "[data-pick-folder]"]) {
      const input = el<HTMLInputElement>(this.root, selector);
      input.addEventListener("change", () => this.add(filesFromInput(input.files)));
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.run();
    });
    el<HTMLButtonElement>(this.root, "[data-pause]").addEventListener("click", () => this.togglePause());
    await this.offerResume();
  }

  private add(files: PickedFile[]): void {
    this.picked = merge(this.picked, files);
    const total = this.picked.reduce((sum, item) => sum + item.file.size, 0);
    el(this.root, "[data-selection]").textContent = this.picked.length
      ? `${this.picked.length} file${this.picked.length === 1 ? "" : "s"} selected (${formatBytes(total)}).`
      : "";
    el<HTMLButtonElement>(this.root, "[data-start]").disabled = this.picked.length === 0;
  }

  // A reloaded page finds its unfinished uploads on the server and offers to continue them.
  private async offerResume(): Promise<void> {
    let open: Session[] = [];
    try {
      open = await this.api.openSessions();
    } catch {
      return;
    }
    const box = el<HTMLElement>(this.root, "[data-resume]");
    box.replaceChildren();
    for (const session of open) {
      const article = make("article", "", "resume-offer");
      article.append(
        make("p", `Unfinished upload “${session.label}”: ${formatBytes(session.bytes_received)} of ${formatBytes(session.bytes_total)} received (${session.file_count} files). Choose or drop the same files and press “Upload and ingest” to continue where it stopped.`),
      );
      const resume = make("button", "Continue this upload", "secondary");
      resume.type = "button";
      resume.addEventListener("click", () => {
        this.session = session;
        el<HTMLInputElement>(this.root, "#case-label").value = session.label;
        box.querySelectorAll("article").forEach((node) => node.classList.toggle("chosen", node === article));
        resume.textContent = "Chosen: drop the same files";
      });
      const discard = make("button", "Discard", "secondary outline");
      discard.type = "button";
      discard.addEventListener("click", async () => {
        await this.api.discard(session.id);
        if (this.session?.id === session.id) this.session = null;
        article.remove();
      });
      article.append(resume, discard);
      box.append(article);
    }
    box.hidden = open.length === 0;
  }

  private async run(): Promise<void> {
    const label = el<HTMLInputElement>(this.root, "#case-label").value.trim();
    el<HTMLButtonElement>(this.root, "[data-start]").disabled = true;
    el(this.root, "[data-report]").hidden = true;
    try {
      this.session ??= await this.api.start(label);
      const server = await this.api.announce(
        this.session.id,
        this.picked.map((item) => ({ name: item.name, size: item.file.size })),
      );
      this.showRows(server);
      await this.sendAll();
      this.status("All files received. Checking, de-identifying and storing on the server…");
      await this.ingest({});
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error));
    }
  }

  private showRows(server: ServerFile[]): void {
    const byName = new Map(this.picked.map((item) => [item.name, item]));
    const list = el<HTMLUListElement>(this.root, "[data-file-list]");
    list.replaceChildren();
    this.rows = server.map((file) => {
      const li = make("li");
      const bar = make("progress");
      bar.max = Math.max(file.size, 1);
      bar.setAttribute("aria-label", `Upload of ${file.name}`);
      const status = make("small");
      li.append(make("span", file.name, "file-name"), bar, status);
      list.append(li);
      const sent = file.received.reduce((sum, index) => sum + this.chunkLength(file, index), 0);
      const row = { picked: byName.get(file.name)!, server: file, sent, bar, status };
      this.paint(row);
      return row;
    });
    el(this.root, "[data-progress]").hidden = false;
    this.paintOverall();
  }

  private chunkLength(file: ServerFile, index: number): number {
    return Math.min(file.chunk_bytes, file.size - index * file.chunk_bytes);
  }

  // One queue of missing chunks, several workers: small files finish early, big ones share.
  // Files of one chunk (a CT slice is about half a megabyte) travel several to a request.
  private async sendAll(): Promise<void> {
    const queue: Send[] = [];
    const small: Row[] = [];
    for (const row of this.rows) {
      const have = new Set(row.server.received);
      if (row.server.chunks === 1 && !have.has(0)) small.push(row);
      else for (let index = 0; index < row.server.chunks; index++) if (!have.has(index)) queue.push({ row, index });
    }
    queue.unshift(...batches(small));
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await this.waitWhilePaused();
        if ("rows" in next) await this.sendBatch(next.rows);
        else await this.sendChunk(next.row, next.index);
        this.paintOverall();
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  }

  private async sendChunk(row: Row, index: number): Promise<void> {
    const start = index * row.server.chunk_bytes;
    const blob = row.picked.file.slice(start, start + this.chunkLength(row.server, index));
    row.server.check = (await this.api.putChunk(this.session!.id, row.server, index, blob)) ?? row.server.check;
    this.sent(row, blob.size);
  }

  private async sendBatch(rows: Row[]): Promise<void> {
    const files = rows.map((row) => row.picked.file);
    let checks: (FileCheck | null)[];
    try {
      checks = await this.api.putBatch(this.session!.id, rows.map((row) => row.server), files);
    } catch (error) {
      // A batch refused as a whole (a file changed since it was picked, say): send the
      // files one by one, so the server's answer names the file at fault.
      if (!(error instanceof ApiError) || ![400, 413].includes(error.status)) throw error;
      for (const row of rows) await this.sendChunk(row, 0);
      return;
    }
    rows.forEach((row, i) => {
      row.server.check = checks[i] ?? row.server.check;
      this.sent(row, row.server.size);
    });
  }

  private sent(row: Row, bytes: number): void {
    row.sent += bytes;
    this.rate.add(bytes);
    this.paint(row);
  }

  private waitWhilePaused(): Promise<void> {
    return this.paused ? new Promise((resolve) => this.resumeWaiters.push(resolve)) : Promise.resolve();
  }

  private togglePause(): void {
    this.paused = !this.paused;
    el(this.root, "[data-pause]").textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) this.resumeWaiters.splice(0).forEach((resolve) => resolve());
    this.paintOverall();
  }

  private paint(row: Row): void {
    row.bar.value = row.sent;
    const check = row.server.check;
    if (check?.status === "rejected") {
      row.status.textContent = `refused: ${check.reason}`;
      row.status.className = "result-rejected";
    } else if (check?.status === "accepted") {
      row.status.textContent = "checked, de-identified";
    } else {
      row.status.textContent = row.sent >= row.server.size ? "received" : `${Math.floor((100 * row.sent) / Math.max(row.server.size, 1))}%`;
    }
  }

  private paintOverall(): void {
    const total = this.rows.reduce((sum, row) => sum + row.server.size, 0);
    const sent = this.rows.reduce((sum, row) => sum + row.sent, 0);
    const bar = el<HTMLProgressElement>(this.root, "[data-overall]");
    bar.max = Math.max(total, 1);
    bar.value = sent;
    const speed = this.rate.perSecond();
    const left = speed > 0 ? (total - sent) / speed : Infinity;
    const done = this.rows.filter((row) => row.sent >= row.server.size).length;
    this.status(
      this.paused
        ? `Paused: ${formatBytes(sent)} of ${formatBytes(total)}.`
        : `${done} of ${this.rows.length} files, ${formatBytes(sent)} of ${formatBytes(total)} · ${formatBytes(speed)}/s · ${formatSeconds(left)} left`,
    );
  }

  private status(text: string): void {
    el(this.root, "[data-overall-text]").textContent = text;
  }

  private async ingest(options: { series_instance_uid?: string }): Promise<void> {
    const strict = el<HTMLInputElement>(this.root, "[data-strict]").checked;
    const report = await this.api.ingest(this.session!.id, { strict, ...options });
    this.showReport(report);
    if (report.ok) {
      this.session = null;
      this.status("Done.");
      el(this.root, "[data-pause]").hidden = true;
    }
  }

  private showReport(report: Report): void {
    const section = el<HTMLElement>(this.root, "[data-report]");
    section.hidden = false;
    const message = el(this.root, "[data-report-message]");
    message.replaceChildren(make("span", report.message ?? report.detail ?? "The server sent no report."));
    message.className = report.ok ? "report-ok" : "report-error";
    if (report.ok && report.case) {
      const link = make("a", `Open case “${report.case.label}”`);
      link.href = report.case.url;
      message.append(" ", link);
    }
    const counts = report.counts;
    el(this.root, "[data-report-counts]").textContent = counts && Object.keys(counts).length
      ? `${counts.accepted ?? 0} accepted, ${counts.duplicate ?? 0} duplicates skipped, ${counts.skipped ?? 0} skipped, ${counts.rejected ?? 0} refused.`
      : "";
    el(this.root, "[data-report-warnings]").replaceChildren(...(report.warnings ?? []).map((text) => make("li", text)));
    el(this.root, "[data-report-rows]").replaceChildren(
      ...(report.files ?? []).map((file) => {
        const tr = make("tr", "", `result-${file.status}`);
        tr.append(make("td", file.name), make("td", file.status), make("td", file.reason));
        return tr;
      }),
    );
    this.offerSeriesChoice(report);
    section.focus();
  }

  // Several series in one upload: let the user pick one instead of starting over.
  private offerSeriesChoice(report: Report): void {
    const box = el<HTMLElement>(this.root, "[data-series-choice]");
    const choices = report.ok ? [] : (report.series_choices ?? []);
    box.hidden = choices.length === 0;
    el(this.root, "[data-series-options]").replaceChildren(
      ...choices.map((choice) => {
        const li = make("li");
        const button = make("button", `${choice.description || "Series without description"}: ${choice.files} files, ${choice.size}`, "secondary");
        button.type = "button";
        button.addEventListener("click", () => void this.ingest({ series_instance_uid: choice.series_instance_uid }));
        li.append(button);
        return li;
      }),
    );
  }

  private fail(text: string): void {
    const section = el<HTMLElement>(this.root, "[data-report]");
    section.hidden = false;
    const message = el(this.root, "[data-report-message]");
    message.textContent = text;
    message.className = "report-error";
    el<HTMLButtonElement>(this.root, "[data-start]").disabled = this.picked.length === 0;
    section.focus();
  }
}

export function initUpload(root: Document): void {
  const section = root.querySelector<HTMLElement>("[data-upload]");
  if (section) void new UploadPage(section).init().catch((error: unknown) => {
    if (!(error instanceof ApiError)) console.error(error);
  });
}
