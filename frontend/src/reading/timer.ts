// Reading time that counts only while the reader can be looking: the tab is visible and
// the window has focus. Time spent in another window or tab is not reading time.

export class FocusTimer {
  private totalMs: number;
  private since: number | null = null;

  constructor(initialSeconds: number) {
    this.totalMs = Math.max(0, initialSeconds) * 1000;
    const update = () => this.update();
    document.addEventListener("visibilitychange", update);
    window.addEventListener("focus", update);
    window.addEventListener("blur", update);
    window.addEventListener("pagehide", update);
    window.addEventListener("pageshow", update);
    this.update();
  }

  /** Focused seconds so far, whole seconds (earlier visits included). */
  seconds(): number {
    const running = this.since === null ? 0 : performance.now() - this.since;
    return Math.round((this.totalMs + running) / 1000);
  }

  private update(): void {
    const now = performance.now();
    if (this.since !== null) this.totalMs += now - this.since;
    const focused = document.visibilityState === "visible" && document.hasFocus();
    this.since = focused ? now : null;
  }
}
