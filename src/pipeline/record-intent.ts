/**
 * Stage 7 — a high-risk call is written to the audit log and flushed to disk before it is forwarded
 * (SPEC "Audit"): if the gateway dies mid-call, the record of what it was about to do survives.
 * So is a call a human approved. Other calls are recorded once, at the end.
 */
import { callEventFields } from '../audit/events.js';
import { GatewayError } from '../errors.js';
import type { AuditPort, CallContext } from './context.js';

export function createRecordIntent(audit: AuditPort) {
  // Synchronous for the common call (neither high-risk nor approved): no promise on the hot path.
  return function recordIntent(ctx: CallContext): Promise<void> | undefined {
    return ctx.operation?.risk === 'high' || ctx.approval ? durable(ctx) : undefined;
  };

  async function durable(ctx: CallContext): Promise<void> {
    try {
      await audit.record('tool_call_intent', callEventFields(ctx, 'intent'), { durable: true });
    } catch (err) {
      throw new GatewayError('audit_write_failed', 'The audit record of this high-risk call could not be written to disk, so it was not forwarded.', { cause: err });
    }
  }
}
