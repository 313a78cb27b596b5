// Live job progress: polls the progress endpoint while any job on the page is active,
// and draws the training chart. Hooked by data attributes:
//   [data-live-jobs][data-progress-url][data-kind]  >  [data-job-id][data-job-active]
//   [data-training-chart][data-history-url]
import "./jobs.css";
import { apiRequest, type Schema } from "./api";
import { drawTrainingChart, type HistoryEntry } from "./jobs_chart";

type JobProgress = Schema<"JobProgress">;

const POLL_MS = 2000;
const ACTIVE = new Set(["queued", "running"]);

function updateRow(row: HTMLElement, job: JobProgress): void {
  const state = row.querySelector<HTMLElement>("[data-job-state]");
  if (state) {
    state.textContent = job.state_label;
    state.className = `job-state job-state-${job.state}`;
  }
  const bar = row.querySelector<HTMLProgressElement>("[data-job-bar]");
  if (bar) {
    if (job.progress_total > 0) {
      bar.max = job.progress_total;
      bar.value = job.progress_done;
    } else if (job.state === "running") {
      bar.removeAttribute("value"); // indeterminate until the total is known
    } else {
      bar.max = 1;
      bar.value = job.state === "succeeded" ? 1 : 0;
    }
  }
  const text = row.querySelector<HTMLElement>("[data-job-progress]");
  if (text) text.textContent = job.progress_total ? `${job.progress_done} / ${job.progress_total}` : "";
  const message = row.querySelector<HTMLElement>("[data-job-message]");
  if (message) message.textContent = job.message;
  const attempts = row.querySelector<HTMLElement>("[data-job-attempts]");
  if (attempts) attempts.textContent = `${job.attempts} / ${job.max_attempts}`;
  const wasActive = row.dataset.jobActive === "1";
  row.dataset.jobActive = ACTIVE.has(job.state) ? "1" : "0";
  if (wasActive && !ACTIVE.has(job.state)) {
    // The retry/cancel buttons depend on the state: reload once so the server renders them.
    row.dataset.jobFinished = "1";
  }
}

async function pollOnce(container: HTMLElement, status: HTMLElement | null): Promise<boolean> {
  const rows = Array.from(container.querySelectorAll<HTMLElement>("[data-job-id]"));
  const active = rows.filter((row) => row.dataset.jobActive === "1");
  if (active.length === 0) return false;
  const url = new URL(container.dataset.progressUrl ?? "", window.location.href);
  url.searchParams.set("ids", active.map((row) => row.dataset.jobId).join(","));
  url.searchParams.set("kind", container.dataset.kind ?? "denoise");
  // No retries inside: the poll loop backs off and says so on the page.
  const body = await apiRequest<Schema<"JobProgressList">>(url.href, {
    retries: 0,
    errorMessage: "progress request failed",
  });
  for (const job of body.results) {
    const row = container.querySelector<HTMLElement>(`[data-job-id="${job.id}"]`);
    if (row) updateRow(row, job);
  }
  if (status) status.textContent = "";
  return rows.some((row) => row.dataset.jobActive === "1");
}

function watch(container: HTMLElement): void {
  const status = container.parentElement?.querySelector<HTMLElement>("[data-live-status]") ?? null;
  let failures = 0;
  const tick = async (): Promise<void> => {
    let again = true;
    try {
      again = await pollOnce(container, status);
      failures = 0;
    } catch (error) {
      failures += 1;
      if (status) status.textContent = `Live progress paused: ${(error as Error).message.replace(/\.$/, "")}. Retrying…`;
    }
    if (container.querySelector("[data-job-finished]")) {
      window.dispatchEvent(new CustomEvent("ldct:job-finished"));
    }
    if (again) window.setTimeout(tick, POLL_MS * Math.min(8, 2 ** failures));
  };
  void tick();
}

async function loadChart(chart: HTMLElement): Promise<void> {
  const keys = (chart.dataset.lossKeys ?? "total,D_total").split(",").filter(Boolean);
  const refresh = async (): Promise<void> => {
    let job: Schema<"TrainingJob">;
    try {
      job = await apiRequest<Schema<"TrainingJob">>(chart.dataset.historyUrl ?? "");
    } catch {
      return; // the chart stays as it is
    }
    // The schema leaves the entries open; the chart reads the ones the trainer logs.
    drawTrainingChart(chart, job.history as HistoryEntry[], keys);
    if (ACTIVE.has(job.state)) window.setTimeout(() => void refresh(), POLL_MS * 2);
  };
  await refresh();
}

export function initJobs(root: Document): void {
  root.querySelectorAll<HTMLElement>("[data-live-jobs]").forEach(watch);
  root.querySelectorAll<HTMLElement>("[data-training-chart]").forEach((chart) => void loadChart(chart));
  // A finished job changes which actions apply: show the server's view of it.
  window.addEventListener("ldct:job-finished", () => window.setTimeout(() => window.location.reload(), 500), {
    once: true,
  });
}
