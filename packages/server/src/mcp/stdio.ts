/**
 * MCP over stdio (`micro mcp serve`): newline-delimited JSON-RPC on stdin/stdout. stdout is the
 * protocol's: logs must go to stderr (the default logger's target).
 */
import type { Readable, Writable } from "node:stream";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { ErrorCode, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

export interface StdioOptions {
  /** @default process.stdin */
  stdin?: Readable;
  /** @default process.stdout */
  stdout?: Writable;
}

export interface StdioSession {
  /** Resolves when the session ends: stdin closed (the agent went away) or close(). */
  readonly closed: Promise<void>;
  /** Ends the session and closes the server. Idempotent. */
  close(): Promise<void>;
}

/** Serves `server` on stdin/stdout until stdin ends. */
export async function serveStdio(server: Server, o: StdioOptions = {}): Promise<StdioSession> {
  const stdin = o.stdin ?? process.stdin;
  const transport = new StdioServerTransport(stdin, o.stdout ?? process.stdout);
  let done!: () => void;
  const closed = new Promise<void>((r) => (done = r));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= server.close().finally(done));
  const previous = server.onclose;
  server.onclose = () => {
    previous?.();
    done();
  };
  await server.connect(transport);
  // The SDK drops a line it cannot parse; JSON-RPC says to answer it, without an id.
  const onerror = transport.onerror;
  transport.onerror = (e) => {
    onerror?.(e);
    const parse = e instanceof SyntaxError;
    const invalid = (e as { name?: string }).name === "ZodError";
    if (!parse && !invalid) return;
    const error = parse
      ? { code: ErrorCode.ParseError, message: "Parse error: not JSON" }
      : { code: ErrorCode.InvalidRequest, message: "Invalid Request: not a JSON-RPC 2.0 message" };
    transport.send({ jsonrpc: "2.0", error } as unknown as JSONRPCMessage).catch(() => {});
  };
  const onEnd = () => void close();
  stdin.once("end", onEnd);
  stdin.once("close", onEnd);
  void closed.then(() => {
    stdin.off("end", onEnd);
    stdin.off("close", onEnd);
  });
  return { closed, close };
}
