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
