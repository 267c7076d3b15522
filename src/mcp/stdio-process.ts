/**
 * One MCP server process, spoken to over stdio (newline-delimited JSON-RPC, the SDK's own framing
 * from @modelcontextprotocol/sdk/shared/stdio). Unlike the SDK's StdioClientTransport it passes the
 * child exactly the configured environment — nothing of the gateway's is inherited, not even PATH or
 * HOME — so no secret of the gateway (or of another tool) reaches a server it did not name.
 * Its stderr goes to the gateway's log at debug level, a line at a time, bounded.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { StdioServer } from '../config/compile-mcp.js';
import type { Logger } from '../observability/logger.js';

const KILL_AFTER_MS = 2000;

export class ServerProcess implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child?: ChildProcessWithoutNullStreams;
  private readonly buffer = new ReadBuffer();
  private closed = false;

  constructor(
    private readonly spec: StdioServer,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.spec.command, [...this.spec.args], { env: { ...this.spec.env }, cwd: this.spec.cwd, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
      this.child = child;
      child.once('spawn', () => resolve());
      child.once('error', (err) => {
        reject(err);
        this.onerror?.(err);
        this.finish();
      });
      child.once('exit', () => this.finish());
      child.stdout.on('data', (chunk: Buffer) => {
        this.buffer.append(chunk);
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = this.buffer.readMessage();
          } catch (err) {
            // A line that is not a JSON-RPC message: the server is broken; say so and go on.
            this.onerror?.(err as Error);
            continue;
          }
          if (message === null) break;
          this.onmessage?.(message);
        }
      });
      let pending = '';
      child.stderr.on('data', (chunk: Buffer) => {
        pending = (pending + chunk.toString('utf8')).slice(-8192);
        for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
          this.log.debug({ pid: child.pid, line: pending.slice(0, Math.min(i, 1024)) }, 'MCP stdio server stderr');
          pending = pending.slice(i + 1);
        }
      });
      // A server gone while we write: its exit closes the session.
      child.stdin.on('error', () => undefined);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed || !this.child) throw new Error('the MCP server process has ended');
    this.child.stdin.write(serializeMessage(message));
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return this.finish();
    child.stdin.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS).unref();
    await new Promise<void>((r) => child.once('exit', () => r()));
    clearTimeout(timer);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
