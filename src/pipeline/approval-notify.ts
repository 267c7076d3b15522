/**
 * Webhooks: tells a channel (Slack workflow, a ticketing hook, an on-call bot) that an approval is
 * waiting or that an agent's trust level changed. Best effort: a failure is logged, never blocks a call.
 */
import { presented } from './approval-capture.js';
import { request } from 'undici';
import type { Logger } from '../observability/logger.js';
import type { Approval } from '../state/store.js';

export function notifyApprovers(webhook: string | null, held: Approval, logger: Logger): void {
  if (!webhook) return;
  const approval = presented(held);
  const body = JSON.stringify({
    event: 'approval.requested',
    approval: { id: approval.id, fingerprint: approval.fingerprint, reasons: approval.reasons, request_id: approval.request_id, expires_at: new Date(approval.expires_at).toISOString(), call: approval.call ?? null },
    approve: `POST /admin/approvals/${approval.id}/approve`,
    deny: `POST /admin/approvals/${approval.id}/deny`,
  });
  postWebhook(webhook, body, logger, { approval: approval.id });
}

export function postWebhook(url: string, body: string, logger: Logger, about: Record<string, unknown>): void {
  request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 5_000, bodyTimeout: 5_000 })
    .then(async (res) => {
      await res.body.dump();
      if (res.statusCode >= 300) logger.warn({ ...about, status: res.statusCode }, 'webhook refused the notification');
    })
    .catch((err: Error) => logger.warn({ ...about, error: err.message }, 'webhook unreachable'));
}
