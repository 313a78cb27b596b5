// Warms the browser's HTTP cache with the next case's images while the reader scores this
// one. The next case is a new page, so the image cache of this one does not survive; the
// HTTP cache does, as long as the server lets the image responses be cached.

const CONCURRENT_REQUESTS = 2;

export async function prefetchNextCase(next: Record<string, string[]> | null): Promise<void> {
  if (!next) return;
  // Interleaved, like the viewers' own loading: the order does not tell the sides apart.
  const sides = Object.values(next);
  const urls: string[] = [];
  const longest = Math.max(0, ...sides.map((list) => list.length));
  for (let index = 0; index < longest; index++) {
    for (const list of sides) if (list[index]) urls.push(list[index]!);
  }
  let nextIndex = 0;
  async function worker(): Promise<void> {
    while (nextIndex < urls.length) {
      const url = urls[nextIndex++]!;
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          priority: "low",
        } as RequestInit);
        await response.arrayBuffer();
      } catch {
        // Prefetching is an optimisation: the next page loads what it misses.
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, worker));
}
