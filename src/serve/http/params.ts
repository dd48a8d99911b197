// Request parameters of the lookup, checked before anything touches the database. Every rejection names
// the parameter, so a client sees "k must be ..." rather than a bare 400; nothing here can throw.
import { parseDate } from '../../dates.ts';

export interface LookupParams {
  job: string;
  userId: string;
  /** null: the job's latest published date. */
  date: string | null;
  /** null: all stored items. */
  k: number | null;
  /** include=attributes: each item's items.attributes columns. */
  attributes: boolean;
}

export class BadParameter {
  constructor(
    readonly parameter: 'job' | 'user_id' | 'date' | 'k' | 'include' | 'query',
    readonly message: string,
  ) {}
}

/** Longest user id accepted, in characters: ids are keys like "user-8f3a..." or UUIDs, far below this. */
export const MAX_USER_ID_CHARS = 256;
/** Largest k: the largest K a job file may declare (src/jobs/load-job.ts). */
export const MAX_K = 1000;
const QUERY_PARAMETERS = new Set(['date', 'k', 'include']);
// C0 controls and DEL: PostgreSQL text cannot hold NUL, and the others are never part of a real id.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
export const CONTROL = /[\u0000-\u001f\u007f]/;

/** Shown back to the client inside a JSON string: short and printable. */
function shown(v: string): string {
  const s = v.length > 64 ? `${v.slice(0, 64)}...` : v;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return JSON.stringify(s.replace(/[\u0000-\u001f\u007f]/g, '?'));
}

function decodeSegment(raw: string): string | undefined {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined; // malformed percent-encoding or not UTF-8
  }
}

/**
 * `jobRaw` and `userRaw` are path segments as sent (percent-encoded); `query` is the text after '?'.
 * `knownJob` says whether a job name is served (see job-catalogue.ts).
 */
export function parseLookupParams(
  jobRaw: string,
  userRaw: string,
  query: string,
  knownJob: (name: string) => boolean,
): LookupParams | BadParameter {
  const job = decodeSegment(jobRaw);
  // The known jobs are not listed: an answer must not enumerate them to whoever asks (docs/security.md).
  if (job === undefined || !knownJob(job)) return new BadParameter('job', `job ${shown(job ?? jobRaw)} is not a job this server knows`);
  const userId = decodeSegment(userRaw);
  if (userId === undefined) return new BadParameter('user_id', `user_id ${shown(userRaw)} is not valid percent-encoded UTF-8`);
  if (userId.length === 0 || userId.length > MAX_USER_ID_CHARS) {
    return new BadParameter('user_id', `user_id must be 1 to ${MAX_USER_ID_CHARS} characters (got ${userId.length})`);
  }
  if (CONTROL.test(userId)) return new BadParameter('user_id', `user_id ${shown(userId)} contains control characters`);

  let date: string | null = null;
  let k: number | null = null;
  let attributes = false;
  if (query) {
    const seen = new Set<string>();
    for (const [name, value] of new URLSearchParams(query)) {
      if (!QUERY_PARAMETERS.has(name)) {
        return new BadParameter('query', `unknown query parameter ${shown(name)}; this endpoint takes date, k and include`);
      }
      if (seen.has(name)) return new BadParameter(name as 'date' | 'k' | 'include', `${name} is given more than once`);
      seen.add(name);
      if (name === 'date') {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(value))
          return new BadParameter('date', `date ${shown(value)} is not a date: use YYYY-MM-DD, e.g. 2026-11-20`);
        try {
          date = parseDate(value);
        } catch (err) {
          return new BadParameter('date', (err as Error).message);
        }
      } else if (name === 'include') {
        if (value !== 'attributes')
          return new BadParameter('include', `include ${shown(value)} is not known; the only value is include=attributes`);
        attributes = true;
      } else {
        const n = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
        if (!(n >= 1 && n <= MAX_K)) return new BadParameter('k', `k must be a whole number from 1 to ${MAX_K} (got ${shown(value)})`);
        k = n;
      }
    }
  }
  return { job, userId, date, k, attributes };
}
