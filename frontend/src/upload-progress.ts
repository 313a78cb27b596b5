// Speed and time left from a sliding window of recent progress, and human-readable sizes.

export function formatBytes(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "estimating…";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.ceil(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export class Rate {
  private samples: { time: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(bytes: number, now = performance.now()): void {
    this.samples.push({ time: now, bytes });
    while (this.samples.length > 2 && now - this.samples[0].time > this.windowMs) this.samples.shift();
  }

  // Bytes per second over the window (what a user feels as "the speed right now").
  perSecond(now = performance.now()): number {
    if (this.samples.length === 0) return 0;
    const span = Math.max(now - this.samples[0].time, 250) / 1000;
    return this.samples.reduce((sum, sample) => sum + sample.bytes, 0) / span;
  }
}
