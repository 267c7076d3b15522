/**
 * Attestations: signed statements (JWT) about an agent from a registered trust root — a scanner, a
 * red-team run, a code review — that move its trust score up or down until they expire.
 *
 *   { iss: <a trust root>, aud: trust.attestations.audience, sub: <agent id>, iat, exp, jti,
 *     kind: "scan", weight: 15, summary: "dependency scan clean" }
 *
 * The signature is checked against the root's JWKS with the same verifier as capability tokens
 * (algorithms, clock tolerance, lifetime cap). A bad signature, an unknown root, an expired
 * statement or an unknown agent is refused and counts for nothing; the weight applied is bounded by
 * the root's max_weight.
 */
import type { AgentLookup } from '../directory/registry.js';
import type { JWTPayload } from 'jose';
import type { RuntimeConfig } from '../config/compile.js';
import { createJwtVerifier } from '../auth/jwt-verifier.js';
import { GatewayError } from '../errors.js';
import type { Attestation } from '../state/store.js';

const KIND = /^[A-Za-z0-9._:-]{1,64}$/;

export type AttestationVerifier = (jwt: string, by: string) => Promise<Attestation>;

export function createAttestationVerifier(config: RuntimeConfig, registry: AgentLookup = config.agents): AttestationVerifier {
  const roots = config.trust.attestations.roots;
  const verify = createJwtVerifier({
    issuers: roots,
    algorithms: config.auth.algorithms,
    clockToleranceSec: config.auth.clockToleranceSec,
    maxTokenBytes: 16_384,
    jwks: config.auth.jwks,
    maxTtlSec: config.trust.attestations.maxTtlSec,
    requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
  });
  const maxWeight = new Map(roots.map((r) => [r.issuer, r.maxWeight]));

  return async function verifyAttestation(jwt, by) {
    if (roots.length === 0) throw new GatewayError('attestation_invalid', 'No trust roots are configured (trust.attestations.roots), so no attestation can be accepted.');
    let claims: JWTPayload;
    try {
      claims = await verify(jwt);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      // Keep the verifier's precise reason (signature, expiry, issuer…) next to ours.
      throw new GatewayError('attestation_invalid', `The attestation is not accepted: ${err.message.replace(/^The token/, 'the attestation')}`, { reasons: [err.reason] });
    }
    const agent = claims.sub!;
    if (!registry.has(agent)) throw new GatewayError('attestation_invalid', `The attestation is about ${JSON.stringify(agent)}, which is not in the registry.`);
    const kind = claims.kind;
    if (typeof kind !== 'string' || !KIND.test(kind)) throw new GatewayError('attestation_invalid', 'The attestation needs a "kind" claim (1–64 characters: letters, digits, . _ : -).');
    const weight = claims.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || Math.abs(weight) > 100) {
      throw new GatewayError('attestation_invalid', 'The attestation needs a numeric "weight" claim between -100 and 100.');
    }
    const max = maxWeight.get(claims.iss!)!;
    const summary = typeof claims.summary === 'string' ? claims.summary.slice(0, 500) : null;
    return {
      agent,
      issuer: claims.iss!,
      kind,
      weight,
      applied: Math.max(-max, Math.min(max, weight)),
      iat: claims.iat!,
      exp: claims.exp!,
      jti: claims.jti ?? null,
      summary,
      received_at: new Date().toISOString(),
      by,
    };
  };
}
