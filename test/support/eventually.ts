/**
 * Retries `attempt` until it resolves (or `attempts` run out, rethrowing the last failure): for an
 * outcome that follows a recovery the code notices on its own schedule, such as a dependency back
 * from an outage and probed again after its back-off. It waits between attempts but asserts
 * nothing about time.
 */
export async function eventually<T>(
  attempt: () => Promise<T>,
  { attempts = 100, pauseMs = 100 }: { attempts?: number; pauseMs?: number } = {},
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
