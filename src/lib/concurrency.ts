/** Small concurrency helpers shared by the lab and the every-node doctor. */

/** Run fn over items, at most `limit` at a time; the first failure is thrown once all started work ended. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  let failed: {e: unknown} | undefined
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const i = next++
      try {
        out[i] = await fn(items[i] as T, i)
      } catch (e) {
        failed ??= {e}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  if (failed !== undefined) throw failed.e
  return out
}

/** `p`, or `'timeout'` when it has not settled after `ms` (p keeps running; the timer never outlives it). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
