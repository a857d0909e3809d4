/** Replies written straight to a socket: refused upgrades, CONNECT, malformed requests. */
import type { Duplex } from "node:stream";
import type { MicroError } from "@micro-ts/micro";

/** Writes a whole HTTP/1.1 error reply with the error's JSON and closes the socket. */
export function rawReply(socket: Duplex, err: MicroError): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const code = err.code >= 400 && err.code <= 599 ? err.code : 500;
  const body = JSON.stringify(err.toJSON());
  socket.end(`HTTP/1.1 ${code} ${err.status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
