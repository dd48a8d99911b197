// Optional JWTs for teams with an identity provider (auth.jwksUrl): the signature is checked against the
// provider's JWKS with `jose` (createRemoteJWKSet fetches and caches the keys, refetches on an unknown
// kid at most every 30 s), then issuer, audience, expiry and not-before; the scopes come from one claim.
import { hash } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Config } from '../../config/load-config.ts';
import { SCOPES, type Scope } from '../../store/api-keys.ts';

/** Clock skew tolerated on exp and nbf between the provider and this server. */
const CLOCK_TOLERANCE_SECONDS = 30;
// Verified tokens are remembered until their exp (at most a minute): a client sends the same token on
// every request, and a signature check costs ~50-100 us against ~40 us for the whole lookup. They are
// remembered by their SHA-256 (~2 us), so no lookup ever compares a sent token with a valid one.
const REMEMBER_MS = 60_000;
const REMEMBER_MAX = 10_000;

export class JwtVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly remembered = new Map<string, { scopes: ReadonlySet<Scope>; until: number }>();

  constructor(private readonly auth: Pick<Config['auth'], 'jwksUrl' | 'jwtIssuer' | 'jwtAudience' | 'jwtScopeClaim'>) {
    this.jwks = createRemoteJWKSet(new URL(auth.jwksUrl!), { timeoutDuration: 2_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  }

  /**
   * The token's scopes, or undefined when the token is not valid (bad signature, expired, wrong issuer or
   * audience, not a JWT). Rejects only when the JWKS cannot be fetched: the caller answers 503, not 401.
   */
  async verify(token: string): Promise<ReadonlySet<Scope> | undefined> {
    const now = Date.now();
    const id = hash('sha256', token, 'base64');
    const known = this.remembered.get(id);
    if (known && known.until > now) return known.scopes;
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        issuer: this.auth.jwtIssuer,
        audience: this.auth.jwtAudience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      const scopes = scopesOf(payload[this.auth.jwtScopeClaim]);
      if (this.remembered.size >= REMEMBER_MAX) this.remembered.clear();
      const until = Math.min(now + REMEMBER_MS, typeof payload.exp === 'number' ? payload.exp * 1000 : now + REMEMBER_MS);
      this.remembered.set(id, { scopes, until });
      return scopes;
    } catch (err) {
      // The provider is away or answers nonsense (a plain JOSEError: not 200, not JSON): not the token's fault.
      if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') throw err;
      return undefined;
    }
  }
}

/** `"lookup score"` or `["lookup", "score"]`; names that are not scopes are ignored. */
function scopesOf(claim: unknown): ReadonlySet<Scope> {
  const names = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim : [];
  return new Set(names.filter((n): n is Scope => (SCOPES as readonly unknown[]).includes(n)));
}
