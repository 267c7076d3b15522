/**
 * buildGateway(config, deps) — the whole gateway from a compiled config and injected dependencies:
 * the proxy listener, the admin listener and their shared parts. No module-level state, so tests
 * build many gateways in one process.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import type { RuntimeConfig } from './config/compile.js';
import { createJwtVerifier } from './auth/jwt-verifier.js';
import { createTokenAuthenticator } from './auth/token-authenticator.js';
import { createAdminApp } from './control/admin-app.js';
import { GatewayError } from './errors.js';
import { createAccessLogger, createLogger, fastifyLogging, type AccessLog, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { Decider } from './pipeline/decide.js';
import { createPolicyEngine, type PolicyEngine } from './policy/engine.js';
import type { AuditPort } from './pipeline/context.js';
import { openAuditTrail, type AuditTrail } from './audit/trail.js';
import { loadCheckpointSigner } from './audit/checkpoint-key.js';
import { startShippers, type Shippers } from './audit/shipper.js';
import { createMemoryStore } from './state/memory-store.js';
import { createRedisStore } from './state/redis-store.js';
import type { StateStore } from './state/store.js';
import { createPipeline, newRequestId } from './pipeline/index.js';
import { createClientErrorHandler } from './pipeline/client-error.js';
import { createTrust } from './trust/engine.js';
import { loadSigningKeys } from './identity/signing-keys.js';
import { registerTokenRoutes } from './identity/token-routes.js';
import { createStdioBridge } from './mcp/stdio-bridge.js';
import { registerStateGauges } from './observability/state-gauges.js';
import { registerVirtualServers } from './mcp/virtual-server.js';
import { createRegistry, type Registry } from './directory/registry.js';
import { createDirectoryWriter, type DirectoryWriter } from './directory/writer.js';
import { seedRegistry } from './directory/seed.js';

export interface GatewayDeps {
  logger?: Logger;
  /** The per-call access log (see createAccessLogger); defaults to one on the same destination. */
  accessLogger?: AccessLog;
  /** Where logs go when no logger is given (tests capture them here). */
  logDestination?: DestinationStream;
  metrics?: Metrics;
  /** Replaces the policy engine (tests about something other than policy). */
  decider?: Decider;
  /** Replaces the audit trail (the benchmark's "audit off" step); the real trail is opened otherwise. */
  audit?: AuditPort;
  /** The shared security state; by default the store `state.store` names. */
  state?: StateStore;
}

export interface Gateway {
  readonly config: RuntimeConfig;
  readonly proxy: FastifyInstance;
  readonly admin: FastifyInstance;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The policy engine, unless a decider was injected. */
  readonly policy?: PolicyEngine;
  readonly state: StateStore;
  /** The live agent registry, seeded from gateway.yaml in listen(). */
  readonly registry: Registry;
  readonly directory: DirectoryWriter;
  /** The audit trail, once listen() opened it. */
  readonly audit: () => AuditTrail | undefined;
  /** Starts both listeners; returns their base URLs (port 0 in config picks a free port). */
  listen(): Promise<{ proxyUrl: string; adminUrl: string }>;
  /** Stops accepting, drains in-flight calls (up to shutdown.grace), then closes everything. */
  close(): Promise<void>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function buildGateway(config: RuntimeConfig, deps: GatewayDeps = {}): Gateway {
  const logger = deps.logger ?? createLogger({ level: config.logLevel, destination: deps.logDestination });
  const metrics = deps.metrics ?? createMetrics();
  let dropWarnedAt = 0;
  const accessLogDropped = (lines: number) => {
    metrics.accessLogDropped.inc(lines);
    if (Date.now() - dropWarnedAt < 10_000) return;
    dropWarnedAt = Date.now();
    logger.warn({ reason: 'access_log_dropped' }, 'access log lines dropped: stdout is not keeping up (portcullis_access_log_dropped_total counts them; the audit trail is complete)');
  };
  const accessLogger = deps.accessLogger ?? createAccessLogger({ level: config.logLevel, destination: deps.logDestination, onDrop: accessLogDropped });
  let closing = false;
  let listening = false;
  // Whether gateway.yaml's agents are in the registry (readiness: until then no agent is known).
  let seeded = false;
  let seeding: NodeJS.Timeout | undefined;

  const ts = config.tokenService;
  // Loaded before anything listens: a missing or unusable key file stops the start, naming the key.
  const signingKeys = ts ? loadSigningKeys(ts.signingKeys, { generate: ts.generateKey }) : undefined;
  const verify = createJwtVerifier({
    keySets: ts && signingKeys ? new Map([[ts.issuer, signingKeys.keySet]]) : undefined,
    issuers: config.auth.issuers,
    algorithms: config.auth.algorithms,
    clockToleranceSec: config.auth.clockToleranceSec,
    maxTokenBytes: config.auth.maxTokenBytes,
    jwks: config.auth.jwks,
    maxTtlSec: config.auth.maxTokenTtlSec,
    types: config.auth.tokenTypes,
    requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
  });
  const tokenCacheHit = metrics.tokenCache.labels('hit');
  const tokenCacheMiss = metrics.tokenCache.labels('miss');
  const tokens = createTokenAuthenticator(verify, {
    cache: config.auth.tokenCache,
    stats: { onCache: (result) => (result === 'hit' ? tokenCacheHit : tokenCacheMiss).inc() },
  });
  // The audit trail opens in listen() (it reads the log to continue its chain); until then, and if
  // it fails, the port reports unhealthy and every call is refused with audit_unavailable.
  let trail: AuditTrail | undefined;
  let shippers: Shippers | undefined;
  const audit: AuditPort = deps.audit ?? {
    record: (type, fields, opts) =>
      trail ? trail.record(type, fields, opts) : opts?.durable || opts?.written ? Promise.reject(new Error('the audit trail is not open')) : undefined,
    healthy: () => trail?.healthy() ?? false,
  };
  const state =
    deps.state ??
    (config.state.store === 'redis'
      ? createRedisStore(
          {
            connection: config.state.redis,
            maxStalenessMs: config.state.maxStalenessMs,
            signalRetentionMs: config.trust.windowMs,
            rateTimeoutMs: config.rateLimits.redisTimeoutMs,
            onRateFallback: () => metrics.rateLimitFallback.inc(),
          },
          logger,
        )
      : createMemoryStore(config.state.file, { signalRetentionMs: config.trust.windowMs }));
  const registry = createRegistry(config, state);
  const directory = createDirectoryWriter({ state, audit, logger, metrics, maxTokenTtlSec: config.auth.maxTokenTtlSec });
  const trust = createTrust(config, { state, audit, metrics, logger, registry });
  registerStateGauges(metrics.registry, state);
  const policy = deps.decider
    ? undefined
    : createPolicyEngine(config, {
        metrics,
        logger,
        registry,
        onLoad: (r, trigger) => audit.record('policy_reload', { trigger, ok: r.ok, revision: r.revision, previous_revision: r.previous, changed: r.changed, error: r.error ?? null }),
      });
  // Stdio MCP servers: a bridge each, listening before the proxy does (stdio-bridge.ts).
  const bridges = [...config.tools.values()].filter((t) => t.stdio).map((t) => createStdioBridge(t, logger));
  const pipeline = createPipeline(config, {
    stdioSockets: new Map(bridges.map((b) => [b.tool, b.socketPath])),
    tokens,
    decider: deps.decider ?? policy!,
    metrics,
    logger,
    accessLogger,
    audit,
    state,
    trust,
    registry,
    isClosing: () => closing,
  });

  const timeouts = config.listen.proxy.timeouts;
  const proxy = Fastify({
    ...fastifyLogging(logger, 'proxy'),
    // No per-request child logger: the proxy logs only through finish.ts, which names the request id.
    childLoggerFactory: (parent) => parent,
    genReqId: newRequestId,
    requestIdHeader: false,
    return503OnClosing: false,
    exposeHeadRoutes: false,
    // Paths are checked by request-path.ts; the router must not reinterpret them first.
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false },
    // Slow clients: headers within `headers` (checked every second, not Node's default 30 s), an
    // idle kept-alive connection closed after `idle`; the body stage bounds the body, and Node's
    // request timeout is the backstop for a body nobody reads (a refused call's).
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: Math.min(1000, timeouts.headersMs) },
    keepAliveTimeout: timeouts.idleMs,
    requestTimeout: timeouts.headersMs + timeouts.bodyMs + 5000,
    clientErrorHandler: createClientErrorHandler({ audit, metrics }),
    frameworkErrors: (err, request, reply) => pipeline.refuse(request, reply, new GatewayError('request_malformed', 'The request target could not be parsed.', { cause: err })),
  });
  // Bodies are streamed to the upstream untouched: hand Fastify's parser stage the raw stream.
  proxy.removeAllContentTypeParsers();
  proxy.addContentTypeParser('*', (_request, _payload, done) => done(null));
  proxy.route({ method: METHODS, url: '/*', handler: pipeline.handle });
  proxy.get('/approvals/:id', pipeline.approvalStatus);
  registerVirtualServers(proxy, config.virtualServers);
  if (ts && signingKeys) registerTokenRoutes(proxy, config, ts, { state, audit, metrics, logger, keys: signingKeys, registry });
  proxy.setNotFoundHandler(pipeline.handle);
  proxy.setErrorHandler((err, request, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const gErr = status >= 400 && status < 500 ? new GatewayError('header_invalid', 'The request could not be parsed.', { cause: err }) : err;
    return pipeline.refuse(request, reply, gErr);
  });

  const { app: admin } = createAdminApp(config, {
    metrics,
    logger,
    tokenCacheSize: tokens.cacheSize,
    policy,
    audit: () => trail,
    auditPort: audit,
    state,
    trust,
    registry,
    directory,
    readiness: {
      checks: () => ({
        listening,
        not_shutting_down: !closing,
        policy_loaded: policy ? policy.status().active : true,
        audit_writable: audit.healthy(),
        state_fresh: state.healthy(),
        registry_seeded: seeded,
      }),
      problems: () => {
        const p = state.problem();
        return p === null ? [] : [p];
      },
    },
  });

  async function listen() {
    if (!deps.audit) {
      trail = await openAuditTrail(
        { ...config.audit, signer: await loadCheckpointSigner(config.audit.signingKey, { generate: config.audit.generateSigningKey }) },
        { metrics, logger },
      );
      shippers = startShippers(config.audit, trail, { metrics, logger });
    }
    // Kills and revocations are loaded before anything listens: a restart never resurrects a killed agent.
    await state.start();
    trust.start();
    // Load the bundle before listening, so the first call already sees it (a bad bundle leaves the
    // gateway up but not ready, refusing calls with policy_unavailable).
    await policy?.start();
    audit.record('startup', { pid: process.pid, tools: config.tools.size, agents: config.agents.size, policy_revision: policy?.status().revision ?? null });
    // The registry before anything listens: no call meets an agent gateway.yaml names but the registry lacks.
    // Seeding is audited: with the store or the audit log unavailable it waits for both (calls are refused meanwhile).
    if (state.healthy() && audit.healthy()) await seed().catch(() => seedWhenReady(true));
    else seedWhenReady();
    for (const b of bridges) await b.listen();
    const proxyUrl = await proxy.listen({ host: config.listen.proxy.host, port: config.listen.proxy.port });
    const adminUrl = await admin.listen({ host: config.listen.admin.host, port: config.listen.admin.port });
    listening = true;
    return { proxyUrl, adminUrl };
  }

  async function close() {
    if (closing) return;
    closing = true;
    clearInterval(seeding);
    pipeline.drain();
    policy?.close();
    const grace = setTimeout(() => {
      logger.warn({ grace_ms: config.shutdownGraceMs }, 'shutdown grace expired; closing remaining connections');
      proxy.server.closeAllConnections();
    }, config.shutdownGraceMs);
    grace.unref();
    try {
      await proxy.close();
      await admin.close();
      await pipeline.upstreams.close();
      await Promise.all(bridges.map((b) => b.close()));
    } finally {
      clearTimeout(grace);
      listening = false;
      accessLogger.flush();
    }
    // Last: every call has its event; then the shutdown event and a final signed checkpoint.
    trail?.record('shutdown', { pid: process.pid });
    await trail?.close();
    await shippers?.stop();
    trust.close();
    await state.close();
  }

    async function seed(): Promise<void> {
    try {
      await seedRegistry(config, state, directory, logger);
      seeded = true;
    } catch (err) {
      logger.error({ error: (err as Error).message }, 'registry seed failed; retrying');
      throw err;
    }
  }

  /** A replica that started without its shared store, or whose store lost its data, seeds once the store answers. */
  function seedWhenReady(afterFailure = false): void {
    seeded = false;
    // After a failed seed, a second's pause: a seed that fails every time must not spin.
    if (afterFailure) {
      setTimeout(() => !closing && seedWhenReady(), 1_000).unref();
      return;
    }
    seeding ??= setInterval(() => {
      if (closing || !state.healthy() || !audit.healthy()) return;
      clearInterval(seeding);
      seeding = undefined;
      seed().catch(() => seedWhenReady(true));
    }, 100);
    seeding.unref();
  }
  // A shared store that comes back empty (Redis restarted without persistence) is seeded again.
  state.onChange((c) => {
    if (c.type === 'directory_reset' && seeded && registry.size === 0 && config.agents.size > 0) seedWhenReady();
  });

  return { config, proxy, admin, metrics, logger, policy, state, registry, directory, audit: () => trail, listen, close };
}
