/** An opt-in HTTP listener that serves Prometheus text on /metrics. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { joinHostPort, splitHostPort } from "../util/address.js";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.js";

export interface MetricsListener {
  /** The bound `host:port`. */
  readonly address: string;
  close(): Promise<void>;
}

/** Listens on `address` ("127.0.0.1:0" picks a port); GET /metrics answers `render()`. */
export async function listenMetrics(address: string, render: () => string): Promise<MetricsListener> {
  const { host, port } = splitHostPort(address);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`${e instanceof Error ? e.message : String(e)}\n`);
      return;
    }
    res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: joinHostPort(a.address, a.port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
