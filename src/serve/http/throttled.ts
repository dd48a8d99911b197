// Warnings at most once a second, with a count of the ones held back: an outage must not flood the log.
import type { Logger } from '../../log.ts';

export function throttled(log: Logger) {
  let last = 0;
  let held = 0;
  return (msg: string, fields: Record<string, unknown>) => {
    const now = Date.now();
    if (now - last < 1000) {
      held++;
      return;
    }
    last = now;
    log.warn(msg, held ? { ...fields, similarSuppressed: held } : fields);
    held = 0;
  };
}
