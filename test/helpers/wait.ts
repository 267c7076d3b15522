/** Checks `cond` every `everyMs` until it holds or `ms` have passed; returns whether it holds. */
export async function until(cond: () => boolean, ms = 10_000, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, everyMs));
  return cond();
}
