// Who may call the API: `Authorization: Bearer <key>` with an API key of batchcast.api_keys, or a JWT
// signed by the configured JWKS (jwt-verifier.ts); each route needs one scope (docs/security.md).
// - The active keys are held in memory and re-read every auth.keysRefreshMs (5 s): a request never waits
//   on the database. A failed refresh keeps the keys known so far (an outage must not lock every client out).
// - A key is found by its id and judged by comparing SHA-256 hashes in constant time. That costs 2-7 us
//   (a lookup costs ~35 us of CPU), so a keep-alive connection remembers the header it last proved valid,
//   with the key set it was proved against: later requests on it compare the header with that one (~50 ns).
//   That comparison need not be constant-time: the remembered header is one this very client already
//   proved it holds. A refresh makes a new key set, so a revoked key stops working on open connections too.
// - Safe by default: with no key and no JWKS, only a loopback address is served without authentication,
//   and any other address refuses to start (unless auth.insecureNoAuth). Once a key has been seen, the
//   process stays authenticated: revoking the last key does not reopen it. Open on loopback, it answers
//   only requests whose Host is a loopback name: a web page that rebinds its own DNS name to 127.0.0.1
//   (DNS rebinding) must not read the API through a developer's browser.
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type pg from 'pg';
import type { Config } from '../../config/load-config.ts';
import { BadInputError, describeError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { type ActiveKey, hashKey, KEY_PREFIX, keyIdOf, readActiveKeys, type Scope } from '../../store/api-keys.ts';
import { withDeadline } from '../with-deadline.ts';
import { JwtVerifier } from './jwt-verifier.ts';
import { RateLimit } from './rate-limit.ts';
import { json, RETRY_AFTER_SECONDS, type Reply } from './replies.ts';
import type { Route } from './router.ts';

/** The scope each route needs; null: any valid credential. /healthz is open (not listed). */
export const SCOPE_OF: Record<Exclude<Route, 'healthz'>, Scope | null> = {
  lookup: 'lookup',
  score: 'score',
  export: 'export',
  metrics: 'metrics',
  readyz: 'metrics',
  openapi: null,
  other: null,
};

/** The one command that makes a key, as every refusal says it. */
export const MAKE_KEY = 'batchcast keys create --name my-app --scope lookup';

interface HeldKey {
  sha256: Buffer;
  scopes: ReadonlySet<Scope>;
  limit?: RateLimit;
}

/** Longer credentials are refused unread: a key is 60 characters, a JWT a few hundred to ~2 kB. */
const MAX_CREDENTIAL_CHARS = 4096;
const CHALLENGE = { 'www-authenticate': 'Bearer realm="batchcast"' };

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function unauthorized(message = `send Authorization: Bearer <key>; an operator makes keys with \`${MAKE_KEY}\``): Reply {
  return json(401, { error: 'unauthorized', message }, CHALLENGE);
}

function forbidden(scope: Scope): Reply {
  return json(403, { error: 'forbidden', message: `this credential lacks the ${scope} scope this endpoint needs` });
}

export interface ServeAuthOptions {
  pool: pg.Pool;
  timeoutMs: number;
  log: Logger;
  host: string;
  auth: Config['auth'];
  /** serve.processes: a key's rate limit is shared out among them, like serve.rateLimitPerSecond. */
  processes?: number;
}

/** The last header proved valid on a connection, and the key set it was proved against. */
interface Proved {
  header: string;
  keys: Map<string, HeldKey>;
  held: HeldKey;
}

export class ServeAuth {
  private keys = new Map<string, HeldKey>();
  private readonly proved = new WeakMap<Socket, Proved>();
  private loaded = false;
  private keysSeen = false;
  /** The role may not read batchcast.api_keys (42501): keys may exist, so closed even on loopback. */
  private forbiddenToRead = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly jwt: JwtVerifier | undefined;
  private readonly loopback: boolean;

  private constructor(private readonly o: ServeAuthOptions) {
    this.loopback = isLoopback(o.host);
    this.jwt = o.auth.jwksUrl ? new JwtVerifier(o.auth) : undefined;
  }

  /** Reads the keys, refuses an unsafe bind (BadInputError), says how the API is protected, and starts the refresh. */
  static async start(o: ServeAuthOptions): Promise<ServeAuth> {
    const auth = new ServeAuth(o);
    let readError: unknown;
    await auth.refresh().catch((err) => {
      readError = err;
      auth.forbiddenToRead = (err as { code?: string }).code === '42501';
    });
    auth.announce(readError);
    auth.timer = setInterval(() => {
      auth.refresh().catch((err) => o.log.warn(`API keys not re-read (${describeError(err)}); keeping the ${auth.keys.size} known`));
    }, o.auth.keysRefreshMs);
    auth.timer.unref();
    return auth;
  }

  /**
   * True when requests must carry a credential. An unknown key table (the database was away at start)
   * counts as keys on any address but loopback: closed until the keys are read.
   */
  get required(): boolean {
    if (this.o.auth.insecureNoAuth) return false;
    return !this.loopback || this.jwt !== undefined || this.keysSeen || this.forbiddenToRead;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Re-reads the active keys (a NOTIFY or a timer may call it: the table is the authority). */
  async refresh(): Promise<void> {
    const rows = await withDeadline(this.o.pool, this.o.timeoutMs, 'reading the API keys', (c) => readActiveKeys(c));
    this.keys = this.held(rows);
    this.loaded = true;
    if (rows.length > 0) this.keysSeen = true;
  }

  private held(rows: ActiveKey[]): Map<string, HeldKey> {
    const next = new Map<string, HeldKey>();
    for (const r of rows) {
      // A key keeps its bucket across refreshes unless its limit changed.
      const before = this.keys.get(r.keyId)?.limit;
      const perProcess = r.rateLimitPerSecond ? Math.ceil(r.rateLimitPerSecond / (this.o.processes ?? 1)) : 0;
      const limit = perProcess ? (before?.perSecond === perProcess ? before : new RateLimit(perProcess)) : undefined;
      next.set(r.keyId, { sha256: r.sha256, scopes: new Set(r.scopes), limit });
    }
    return next;
  }

  private announce(readError: unknown): void {
    const { log, host, auth } = this.o;
    if (auth.insecureNoAuth) {
      log.warn(
        `authentication is OFF (auth.insecureNoAuth / --insecure-no-auth): anyone who reaches ${host} can read every recommendation, export whole dates and score; use it only behind a gateway that authenticates`,
      );
      return;
    }
    if (this.forbiddenToRead) {
      log.error(
        `the API keys are not readable by this database role (${describeError(readError)}); every request but /healthz gets 401 until they are: as the schema owner, run select batchcast.grant_lookup_access('<this role>')`,
      );
      return;
    }
    if (readError !== undefined) {
      log.warn(
        `API keys not read at start (${describeError(readError)}); ${this.required ? 'every request but /healthz gets 401 until they are' : `serving ${host} (loopback) without authentication until they are`}`,
      );
      return;
    }
    if (!this.required) {
      log.warn(
        `no API key and no JWKS configured: serving without authentication on ${host} (loopback) only; \`${MAKE_KEY}\` turns authentication on within ${auth.keysRefreshMs / 1000} s`,
      );
      return;
    }
    if (this.keys.size === 0 && !this.jwt) {
      throw new BadInputError(
        `refusing to serve on ${host} without authentication: no API key exists and no auth.jwksUrl is set. Make a key: ${MAKE_KEY} ` +
          '(or listen on 127.0.0.1 with --host 127.0.0.1, or pass --insecure-no-auth behind a gateway that authenticates)',
      );
    }
    log.info(
      `authentication on: ${this.keys.size} API key(s)${this.jwt ? `, JWTs from ${auth.jwksUrl}` : ''}; keys re-read every ${auth.keysRefreshMs / 1000} s`,
    );
  }

  /**
   * undefined when a request needing `scope` (null: any valid credential) may go ahead, else the
   * 401/403/429 to answer. Synchronous for API keys, a promise only for a JWT.
   */
  check(header: string | undefined, scope: Scope | null, socket?: Socket, host?: string): Reply | undefined | Promise<Reply | undefined> {
    if (!this.required) return this.o.auth.insecureNoAuth || host === undefined || isLoopback(hostName(host)) ? undefined : foreignHost();
    const known = socket && this.proved.get(socket);
    if (known !== undefined && known.header === header && known.keys === this.keys) return this.allow(known.held, scope);
    const token = bearer(header);
    if (token === undefined) return unauthorized();
    if (token.startsWith(KEY_PREFIX)) return this.checkKey(header!, token, scope, socket);
    if (!this.jwt) return unauthorized('the credential is not valid');
    return this.jwt.verify(token).then(
      (scopes) =>
        scopes === undefined
          ? unauthorized('the credential is not valid')
          : scope !== null && !scopes.has(scope)
            ? forbidden(scope)
            : undefined,
      (err) => ({
        ...json(
          503,
          { error: 'auth_unavailable', message: `credentials cannot be checked right now; retry in ${RETRY_AFTER_SECONDS} s` },
          {
            'retry-after': String(RETRY_AFTER_SECONDS),
          },
        ),
        cause: err,
      }),
    );
  }

  private checkKey(header: string, token: string, scope: Scope | null, socket: Socket | undefined): Reply | undefined {
    const id = keyIdOf(token);
    const held = id === undefined ? undefined : this.keys.get(id);
    // The id only finds the row; the secret is judged by comparing whole-key hashes in constant time.
    if (!held || !timingSafeEqual(hashKey(token), held.sha256)) return unauthorized('the credential is not valid');
    if (socket) this.proved.set(socket, { header, keys: this.keys, held });
    return this.allow(held, scope);
  }

  private allow(held: HeldKey, scope: Scope | null): Reply | undefined {
    if (scope !== null && !held.scopes.has(scope)) return forbidden(scope);
    if (held.limit && !held.limit.take()) {
      return json(
        429,
        {
          error: 'rate_limited',
          message: `over this key's ${held.limit.perSecond} requests per second; retry in ${RETRY_AFTER_SECONDS} s`,
        },
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
    return undefined;
  }

  /** For tests and /metrics: keys held now, and whether they were ever read. */
  get state(): { keys: number; loaded: boolean } {
    return { keys: this.keys.size, loaded: this.loaded };
  }
}

/** The name in a Host header: `127.0.0.1:8080` -> 127.0.0.1, `[::1]:8080` -> ::1. */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') >>> 0);
  const colon = host.indexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase();
}

function foreignHost(): Reply {
  return json(403, {
    error: 'forbidden_host',
    message:
      'this server answers without authentication on loopback only, and only to loopback host names (use http://127.0.0.1:<port>); make an API key to serve other names',
  });
}

/** The token of `Bearer <token>` (scheme case-insensitive, spaces around tolerated), else undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_CREDENTIAL_CHARS + 16) return undefined;
  const m = /^[ \t]*bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i.exec(header);
  return m ? m[1] : undefined;
}
