/**
 * Requests the HTTP layer refuses before the pipeline runs — headers that never finish arriving,
 * headers over Node's size limit, bytes that are not HTTP — answered in the product's language: the
 * JSON error shape with a request id, an audit event (`client_error`) and the calls metric, and always
 * `Connection: close`. Node's own answers carry no `Connection: close`, so a pooled client (undici,
 * Python requests, Go net/http) would send its next call down a socket the server is about to
 * destroy and lose it to "socket hang up".
 * A connection that sent nothing at all before its header timeout is closed without an answer or an
 * event: it is no request, and a port scanner must not be able to fill the audit log.
 */
import type { Socket } from 'node:net';
import { GatewayError, type Reason } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuditPort } from './context.js';
import { newRequestId } from './index.js';

export function createClientErrorHandler(deps: { audit: AuditPort; metrics: Metrics }) {
  return function clientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const reason = reasonFor(err.code);
    if (reason === 'headers_timeout' && socket.bytesRead === 0) {
      socket.destroy();
      return;
    }
    const gErr = new GatewayError(reason, MESSAGES[reason]);
    const requestId = newRequestId();
    deps.metrics.calls.labels('-', '-', gErr.code, reason).inc();
    // Answered once its event is handed to the OS, like every other answer (finish.ts).
    const written = deps.audit.record(
      'client_error',
      { request_id: requestId, client: { ip: socket.remoteAddress ?? '' }, outcome: { result: 'refused', status: gErr.status, error: gErr.code, reason }, bytes_read: socket.bytesRead },
      { written: true },
    );
    const answer = () => {
      if (socket.writable) {
        const body = JSON.stringify(gErr.body(requestId));
        socket.write(
          `HTTP/1.1 ${gErr.status} ${STATUS_TEXT[gErr.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `Portcullis-Request-Id: ${requestId}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroySoon();
    };
    if (written) written.then(answer, answer);
    else answer();
  };
}

type ClientReason = 'headers_timeout' | 'headers_too_large' | 'request_malformed';

function reasonFor(code: string | undefined): ClientReason & Reason {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'headers_timeout';
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  return 'request_malformed';
}

const MESSAGES: Record<ClientReason, string> = {
  headers_timeout: 'The request did not arrive within the header timeout; nothing was forwarded.',
  headers_too_large: 'The request headers are larger than the gateway accepts; nothing was forwarded.',
  request_malformed: 'The request is not well-formed HTTP/1.1; nothing was forwarded.',
};

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };
