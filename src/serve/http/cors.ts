// CORS for browser apps calling the API from another origin: off unless serve.corsOrigins lists origins.
// An allowed origin gets Access-Control-Allow-Origin on every answer, and its preflight (OPTIONS) a 204;
// any other origin gets no CORS header, and its preflight the 405 every unknown method gets, so the
// browser blocks the call. Preflights carry no credentials, so they are answered before authentication.
import type http from 'node:http';
import type { Reply } from './replies.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST']);
/** Headers a script may read from an answer (the ETag to revalidate, the ids to report). */
const EXPOSED = 'etag, x-request-id, x-batchcast-run-id, retry-after, content-disposition';
const ALLOWED_HEADERS = 'authorization, content-type, if-none-match, x-request-id';
/** Browsers cache a preflight this long (Chrome caps it at 7200 s). */
const MAX_AGE_SECONDS = 600;

export class Cors {
  private readonly allowed: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.allowed = new Set(origins);
  }

  /** Headers to set on the answer to a request from `origin`; undefined when CORS is off or the origin is not allowed. */
  headers(origin: string | undefined): Record<string, string> | undefined {
    if (this.allowed.size === 0) return undefined;
    if (origin === undefined || !this.allowed.has(origin)) return { vary: 'origin' };
    return { 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED, vary: 'origin' };
  }

  /** The 204 answering a preflight from an allowed origin; undefined for anything else. */
  preflight(req: http.IncomingMessage): Reply | undefined {
    const origin = req.headers.origin;
    const method = req.headers['access-control-request-method'];
    if (req.method !== 'OPTIONS' || origin === undefined || !this.allowed.has(origin) || !METHODS.has(method ?? '')) return undefined;
    return {
      status: 204,
      body: '',
      headers: {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET, HEAD, POST',
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': String(MAX_AGE_SECONDS),
        vary: 'origin',
      },
    };
  }
}
