import http from "node:http";
import { gatewayTimeout, MicroError } from "../errors/errors.js";
import { splitHostPort } from "./http-wire.js";

/** A subscriber node as registered: where to POST and which subscription it is. */
export interface Target {
  id: string;
  address: string;
}

/** Socket errors that mean the subscriber is not there (any more): try another member. */
const GONE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EADDRNOTAVAIL"]);

/**
 * POSTs one envelope. Resolves "ok" on a 2xx, "gone" when the subscriber is not there
 * (refused, reset, 404 unknown subscription, 503 closing); rejects on anything else.
 */
export async function post(
  agent: http.Agent,
  node: Target,
  payload: Buffer,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<"ok" | "gone"> {
  // A pooled keep-alive socket the server just closed fails with ECONNRESET before the
  // request reached anyone: Node's advice is to retry once on a fresh socket.
  for (let attempt = 0; ; attempt++) {
    const r = await once(agent, node, payload, timeoutMs, signal);
    if (r !== "stale" || attempt >= 1) return r === "stale" ? "gone" : r;
  }
}

function once(
  agent: http.Agent,
  node: Target,
  payload: Buffer,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<"ok" | "gone" | "stale"> {
  return new Promise((resolve, reject) => {
    let host: string;
    let port: number;
    try {
      ({ host, port } = splitHostPort(node.address));
    } catch {
      return resolve("gone");
    }
    const req = http.request({
      host,
      port,
      method: "POST",
      path: `/?id=${encodeURIComponent(node.id)}`,
      agent,
      headers: { "Content-Type": "application/json", "Content-Length": payload.length },
      ...(signal ? { signal } : {}),
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(gatewayTimeout("broker.http", `subscriber ${node.address} did not answer in ${timeoutMs}ms`));
    });
    req.on("response", (res) => {
      const code = res.statusCode ?? 0;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        if (text.length < 4096) text += c;
      });
      res.on("end", () => {
        if (code >= 200 && code < 300) return resolve("ok");
        if (code === 404 || code === 503) return resolve("gone");
        const remote = MicroError.parse(text);
        reject(new MicroError("broker.http", remote.detail || `subscriber answered ${code}`, code));
      });
      res.on("error", reject);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof MicroError) return reject(err);
      if (err.name === "AbortError") return reject(MicroError.from(err, "broker.http"));
      if (err.code === "ECONNRESET" && req.reusedSocket) return resolve("stale");
      if (err.code !== undefined && GONE.has(err.code)) return resolve("gone");
      reject(new MicroError("broker.http", `delivery to ${node.address} failed`, 502, { cause: err, retryable: true }));
    });
    req.end(payload);
  });
}
