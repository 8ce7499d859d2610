/**
 * `command()`'s answer if it comes within `timeoutMs`, else a rejection saying none came: how
 * long Redis may take before the cache and the rate limiter count it as down. A command that
 * lost the race may still fail later; nobody waits for it any more.
 */
export async function within<T>(command: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = command();
  try {
    return await Promise.race([
      pending,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    pending.catch(() => {});
  }
}
