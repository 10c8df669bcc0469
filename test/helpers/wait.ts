/** Polls check every intervalMs until it is true (a throw counts as false); fails naming what did not happen. */
export async function until(what: string, seconds: number, check: () => Promise<boolean> | boolean, intervalMs = 500): Promise<void> {
  await untilValue(what, seconds, async () => ((await check()) ? true : undefined), intervalMs);
}

/** Polls make until it gives a value (undefined or a throw: not yet); fails naming what did not happen. */
export async function untilValue<T>(what: string, seconds: number, make: () => Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = await make().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${seconds}s`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
