// How every long-running command stops: the first SIGINT or SIGTERM asks for a clean stop (a run is marked
// failed and publishes nothing, the scheduler waits for its run, a backfill starts no new date, serve
// finishes the requests in flight). A second Ctrl-C gets node's default: exit at once.
import type { Logger } from '../log.ts';

export interface StopRequest {
  /** Aborted, with "interrupted by SIGINT", at the first signal. */
  signal: AbortSignal;
  /** Resolves with the first signal. */
  requested: Promise<NodeJS.Signals>;
}

/** `stopping` names what stops, for the warning logged at the signal ("SIGTERM: stopping the scheduler"). */
export function stopOnSignals(o: { log?: Logger; stopping?: string } = {}): StopRequest {
  const ac = new AbortController();
  const requested = new Promise<NodeJS.Signals>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        if (ac.signal.aborted) return;
        if (o.log && o.stopping) o.log.warn(`${sig}: stopping ${o.stopping}`);
        ac.abort(new Error(`interrupted by ${sig}`));
        resolve(sig);
      });
    }
  });
  return { signal: ac.signal, requested };
}
