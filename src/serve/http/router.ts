// Every path the API answers, matched in one place. The lookup is tried first and by hand (no regular
// expression): it is nearly every request. Segments come back raw (percent-encoded), so each handler
// decodes and validates its own parameters and names the one that is wrong.
export type Route = 'lookup' | 'score' | 'export' | 'healthz' | 'readyz' | 'metrics' | 'openapi' | 'other';

export type Matched =
  | { route: 'lookup'; jobRaw: string; userRaw: string }
  | { route: 'score'; jobRaw: string }
  | { route: 'export'; jobRaw: string; dateRaw: string }
  | { route: 'healthz' | 'readyz' | 'metrics' | 'openapi' | 'other' };

const SCORE_PATH = /^\/v1\/jobs\/([^/]*)\/score$/;
const EXPORT_PATH = /^\/v1\/jobs\/([^/]*)\/dates\/([^/]*)\/export\.arrow$/;
const FIXED = new Map<string, Matched>([
  ['/healthz', { route: 'healthz' }],
  ['/readyz', { route: 'readyz' }],
  ['/metrics', { route: 'metrics' }],
  ['/openapi.json', { route: 'openapi' }],
]);
const OTHER: Matched = { route: 'other' };

/** `/v1/jobs/{job}/users/{user}/recommendations`: the raw job and user segments. */
function matchLookup(path: string): Matched | undefined {
  const end = path.length - 16; // '/recommendations'
  if (!path.startsWith('/v1/jobs/') || !path.endsWith('/recommendations')) return undefined;
  const slash = path.indexOf('/', 9);
  if (slash < 0 || !path.startsWith('/users/', slash)) return undefined;
  const user = slash + 7;
  if (user > end || path.indexOf('/', user) !== end) return undefined;
  return { route: 'lookup', jobRaw: path.slice(9, slash), userRaw: path.slice(user, end) };
}

/** The route of a request path (the part before `?`). */
export function matchRoute(path: string): Matched {
  const looked = matchLookup(path);
  if (looked) return looked;
  const score = SCORE_PATH.exec(path);
  if (score) return { route: 'score', jobRaw: score[1] };
  const exported = EXPORT_PATH.exec(path);
  if (exported) return { route: 'export', jobRaw: exported[1], dateRaw: exported[2] };
  return FIXED.get(path) ?? OTHER;
}
