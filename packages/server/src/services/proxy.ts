/**
 * The network proxy: calls that reach the server's RPC listener naming some other service
 * (clients with MICRO_PROXY set send every call here) are forwarded to a node of that
 * service found in the server's registry, and every reply message is relayed back. Unary
 * and streaming calls look the same on the wire, so both are relayed as streams.
 */
import {
  CacheRegistry,
  errors,
  HEADERS,
  MicroError,
  randomSelector,
  type Connection,
  type Logger,
  type Message,
  type Registry,
  type ServerStream,
  type Transport,
} from "@micro-ts/micro";

export interface ProxyOptions {
  registry: Registry;
  transport: Transport;
  logger?: Logger;
}

function errorMessage(e: unknown): Message {
  const err = MicroError.from(e, "micro.proxy");
  return { header: { [HEADERS.error]: "1", [HEADERS.contentType]: "application/json" }, body: Buffer.from(JSON.stringify(err.toJSON())) };
}

export class Proxy {
  private readonly registry: CacheRegistry;
  private readonly conns = new Map<string, Promise<Connection>>();
  private readonly selector = randomSelector();

  constructor(private readonly opts: ProxyOptions) {
    this.registry = new CacheRegistry(opts.registry);
  }

  /** The RpcServer `fallback`: forwards one call. */
  readonly handle = (stream: ServerStream): void => {
    void this.forward(stream).catch((e: unknown) => stream.end(errorMessage(e)));
  };

  private async forward(stream: ServerStream): Promise<void> {
    const service = stream.request.header[HEADERS.service] ?? "";
    let records;
    try {
      records = await this.registry.getService(service);
    } catch (e) {
      if (e instanceof MicroError && e.code === 404) throw errors.notFound("micro.proxy", `service ${service} not found`);
      throw e;
    }
    const next = this.selector.select(records);
    const node = next();
    if (!node) throw errors.serviceUnavailable("micro.proxy", `service ${service}: no node available`);
    const conn = await this.dial(node.address);
    const out = conn.stream(stream.request, { signal: stream.signal });
    for await (const m of out) {
      stream.send(m);
      await stream.ready();
    }
    stream.end();
  }

  /** One shared connection per node address, dialled again once it closed. */
  private async dial(address: string): Promise<Connection> {
    const p = this.conns.get(address);
    if (p) {
      const c = await p.catch(() => undefined);
      if (c && !c.closed) return c;
      if (this.conns.get(address) === p) this.conns.delete(address);
      if (this.conns.has(address)) return this.dial(address);
    }
    const fresh = this.opts.transport.dial(address);
    this.conns.set(address, fresh);
    fresh.catch(() => {
      if (this.conns.get(address) === fresh) this.conns.delete(address);
    });
    return fresh;
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await this.registry.close();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => {})));
  }
}
