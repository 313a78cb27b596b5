// Fills the image cache with whole stacks, a few requests at a time, and reports how far
// each stack has got so the viewports can show a loading bar.
import { imageLoader } from "@cornerstonejs/core";

export interface LoadProgress {
  loaded: number;
  failed: number;
  total: number;
}

const CONCURRENT_REQUESTS = 6;

async function loadWithOneRetry(imageId: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await imageLoader.loadAndCacheImage(imageId);
      return true;
    } catch {
      // A dropped connection mid-stack is common on hospital networks; try once more.
    }
  }
  return false;
}

/**
 * Load every image of `stacks` into the cache. The requests take slice 0 of every stack,
 * then slice 1 of every stack, and so on: both sides fill at the same pace, and the order
 * of requests says nothing about which side is which.
 */
export async function loadStacks(
  stacks: string[][],
  onProgress: (stackIndex: number, progress: LoadProgress) => void,
): Promise<LoadProgress[]> {
  const progress = stacks.map((ids) => ({ loaded: 0, failed: 0, total: ids.length }));
  const queue: [number, string][] = [];
  const longest = Math.max(0, ...stacks.map((ids) => ids.length));
  for (let slice = 0; slice < longest; slice++) {
    stacks.forEach((ids, stack) => {
      const id = ids[slice];
      if (id !== undefined) queue.push([stack, id]);
    });
  }
  stacks.forEach((_, stack) => onProgress(stack, { ...progress[stack]! }));
  let next = 0;
  async function worker(): Promise<void> {
    while (next < queue.length) {
      const [stack, id] = queue[next++]!;
      const ok = await loadWithOneRetry(id);
      const entry = progress[stack]!;
      if (ok) entry.loaded++;
      else entry.failed++;
      onProgress(stack, { ...entry });
    }
  }
  await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, worker));
  return progress;
}
