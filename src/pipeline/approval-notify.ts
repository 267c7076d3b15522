/** Tells a channel (Slack workflow, a ticketing hook, an on-call bot) that an approval is waiting. Best effort: a failure is logged, never blocks the call. */
import { request } from 'undici';
import type { Logger } from '../observability/logger.js';
import type { Approval } from '../state/store.js';

export function notifyApprovers(webhook: string | null, approval: Approval, logger: Logger): void {
  if (!webhook) return;
  const body = JSON.stringify({
    event: 'approval.requested',
    approval: { id: approval.id, fingerprint: approval.fingerprint, reasons: approval.reasons, request_id: approval.request_id, expires_at: new Date(approval.expires_at).toISOString() },
    approve: `POST /admin/approvals/${approval.id}/approve`,
    deny: `POST /admin/approvals/${approval.id}/deny`,
  });
  request(webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 5_000, bodyTimeout: 5_000 })
    .then(async (res) => {
      await res.body.dump();
      if (res.statusCode >= 300) logger.warn({ approval: approval.id, status: res.statusCode }, 'approval webhook refused the notification');
    })
    .catch((err: Error) => logger.warn({ approval: approval.id, error: err.message }, 'approval webhook unreachable'));
}
