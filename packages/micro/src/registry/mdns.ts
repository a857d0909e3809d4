/**
 * The zero-configuration registry: multicast DNS, go-micro style. Each node is announced as
 * `<node-id>.<service>.<domain>.` with SRV, TXT and A records, a PTR from `<service>.<domain>.`
 * and one from `_services.<domain>.`; its TXT strings carry go-micro's encoding of the record
 * (JSON, zlib, hex, split into 255-byte strings). Multicast stays on 127.0.0.1 unless asked.
 */
import { createHash, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { isIP, isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { deflateSync, inflateSync } from "node:zlib";
import { badRequest, notFound, serviceUnavailable } from "../errors/errors.js";
import { AsyncQueue } from "../util/watcher.js";
import {
  CLASS_IN,
  CLASS_TOP_BIT,
  FLAG_AUTHORITATIVE,
  FLAG_RESPONSE,
  TYPES,
  decodeMessage,
  encodeMessage,
  type Message,
  type ResourceRecord,
} from "./dns.js";
import {
  cloneRecord,
  type Action,
  type Endpoint,
  type RegisterOptions,
  type Registry,
  type RegistryEvent,
  type ServiceRecord,
  type Watcher,
  type WatchOptions,
} from "./registry.js";

export interface MdnsRegistryOptions {
  /**
   * The IPv4 address of the interface multicast is sent and received on. "127.0.0.1" keeps
   * discovery on this host; "0.0.0.0" joins every interface (LAN discovery); any other
   * address picks one interface. @default env MICRO_MDNS_INTERFACE, else "127.0.0.1"
   */
  interface?: string;
  /** The UDP port. @default env MICRO_MDNS_PORT, else 5353 */
  port?: number;
  /** Registries only see peers of the same domain. @default env MICRO_MDNS_DOMAIN, else "micro" (go-micro's) */
  domain?: string;
  /** How long getService waits for answers about a service it has not heard of, in ms. @default 200 */
  timeout?: number;
  /** The TTL announced for nodes registered without one; this registry renews them. @default 120000 */
  recordTTL?: number;
  /** How long start-up waits for its own probe to come back over multicast, in ms. @default 1000 */
  probeTimeout?: number;
}

const GROUP = "224.0.0.251";
/** After the first answer to a query, how long to keep collecting answers from other nodes. */
const GRACE_MS = 20;
const ID = "registry.mdns";

/** The TXT payload: go-micro's `mdnsTxt` plus fields it ignores (ours start after Metadata). */
export interface MdnsTxt {
  Service: string;
  Version: string;
  Endpoints: Endpoint[] | null;
  Metadata: Record<string, string> | null;
  ServiceMetadata?: Record<string, string>;
  Id?: string;
  Address?: string;
  /** Milliseconds left to live: finer than the DNS TTL's seconds. */
  Ttl?: number;
}

export function encodeTxt(txt: MdnsTxt): string[] {
  const hex = deflateSync(JSON.stringify(txt)).toString("hex");
  const out: string[] = [];
  for (let i = 0; i < hex.length; i += 255) out.push(hex.slice(i, i + 255));
  return out;
}

/** Undefined for anything that is not a well-formed payload. */
export function decodeTxt(strings: string[]): MdnsTxt | undefined {
  try {
    const raw = inflateSync(Buffer.from(strings.join(""), "hex"), { maxOutputLength: 4 << 20 });
    const t = JSON.parse(raw.toString("utf8")) as Partial<MdnsTxt> | null;
    if (!t || typeof t.Service !== "string" || !t.Service || typeof t.Version !== "string")
      return undefined;
    const obj = (v: unknown) =>
      v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, string>) : null;
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    const eps = Array.isArray(t.Endpoints)
      ? t.Endpoints.filter((e) => typeof e?.name === "string")
      : null;
    const out: MdnsTxt = {
      Service: t.Service,
      Version: t.Version,
      Endpoints: eps,
      Metadata: obj(t.Metadata),
    };
    const sm = obj(t.ServiceMetadata);
    if (sm) out.ServiceMetadata = sm;
    if (str(t.Id)) out.Id = str(t.Id)!;
    if (str(t.Address)) out.Address = str(t.Address)!;
    if (typeof t.Ttl === "number" && t.Ttl >= 0) out.Ttl = t.Ttl;
    return out;
  } catch {
    return undefined;
  }
}

interface Instance {
  key: string;
  fqdn: string;
  /** The record with this one node. */
  record: ServiceRecord;
  /** Epoch ms; Infinity for our own nodes registered without a TTL. */
  expires: number;
  /** Our own nodes: the registered TTL in ms, 0 for none. */
  ttl: number;
}

const keyOf = (name: string, version: string, id: string) => `${name}\n${version}\n${id}`;
const validLabel = (s: string) => s.length > 0 && !s.includes(".") && Buffer.byteLength(s) <= 63;
const nodeLabel = (id: string) =>
  validLabel(id) ? id : createHash("sha256").update(id).digest("hex").slice(0, 32);

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  const host = address.slice(0, Math.max(i, 0)).replace(/^\[|\]$/g, "");
  return { host, port: i >= 0 && Number.isInteger(port) && port >= 0 && port < 65536 ? port : 0 };
}

function envPort(): number | undefined {
  const v = process.env["MICRO_MDNS_PORT"];
  return v ? Number(v) : undefined;
}

export class MdnsRegistry implements Registry {
  readonly name = "mdns";
  private readonly iface: string;
  private readonly port: number;
  private readonly domain: string;
  private readonly timeout: number;
  private readonly recordTTL: number;
  private readonly probeTimeout: number;
  private readonly own = new Map<string, Instance>();
  private readonly cache = new Map<string, Instance>();
  private readonly watchers = new Set<{ q: AsyncQueue<RegistryEvent>; service?: string }>();
  private readonly arrivals = new Set<(service: string) => void>();
  private readonly pending = new Set<() => void>();
  /** Packets we multicast, so their loop-back copies are not taken for a peer's. */
  private readonly echoes = new Map<string, number>();
  private socket: dgram.Socket | undefined;
  private joined: string[] = [];
  private starting: Promise<void> | undefined;
  private probe: { name: string; seen: () => void } | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private warmUntil = 0;
  private closed = false;

  constructor(opts: MdnsRegistryOptions = {}) {
    this.iface = opts.interface ?? (process.env["MICRO_MDNS_INTERFACE"] || "127.0.0.1");
    this.port = opts.port ?? envPort() ?? 5353;
    this.domain = (opts.domain ?? (process.env["MICRO_MDNS_DOMAIN"] || "micro")).toLowerCase().replace(/\.$/, "");
    this.timeout = opts.timeout ?? 200;
    this.recordTTL = opts.recordTTL ?? 120_000;
    this.probeTimeout = opts.probeTimeout ?? 1000;
    if (!isIPv4(this.iface))
      throw badRequest(ID, `interface must be an IPv4 address, not ${this.iface}`);
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535)
      throw badRequest(ID, `bad port ${this.port}`);
    if (!this.domain.split(".").every(validLabel))
      throw badRequest(ID, `bad domain ${this.domain}`);
    if (!(this.timeout >= 0 && this.recordTTL >= 1000 && this.probeTimeout > 0))
      throw badRequest(ID, "bad timing options");
  }

  private get loopbackOnly(): boolean {
    return this.iface.startsWith("127.");
  }

  async register(s: ServiceRecord, o: RegisterOptions = {}): Promise<void> {
    await this.ready();
    const rec = cloneRecord(s);
    const ttl = o.ttl && o.ttl > 0 ? o.ttl : 0;
    const instances = rec.nodes.map((node): Instance => ({
      key: keyOf(rec.name, rec.version, node.id),
      fqdn: `${nodeLabel(node.id)}.${rec.name}.${this.domain}.`,
      record: { ...rec, nodes: [node] },
      expires: ttl ? Date.now() + ttl : Infinity,
      ttl,
    }));
    const packets = instances.map((inst) => {
      try {
        return this.packet(inst, false);
      } catch (e) {
        throw badRequest(ID, `cannot announce ${rec.name} over mdns: ${(e as Error).message}`, {
          cause: e,
        });
      }
    });
    instances.forEach((inst, i) => {
      this.own.set(inst.key, inst);
      this.store(inst);
      this.send(packets[i]!);
    });
  }

  async deregister(s: ServiceRecord): Promise<void> {
    for (const n of s.nodes ?? []) {
      const key = keyOf(s.name, s.version || "latest", n.id);
      const inst = this.own.get(key);
      if (!inst) continue;
      this.own.delete(key);
      this.drop(key);
      this.send(this.packet(inst, true));
    }
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    await this.ready();
    let found = this.collect(name);
    if (found.length === 0) {
      await this.collectWindow(this.timeout, name);
      found = this.collect(name);
    }
    if (found.length === 0) throw notFound("registry", `service ${name} not found`);
    return found;
  }

  async listServices(): Promise<ServiceRecord[]> {
    await this.ready();
    // Right after start, peers are still answering our `_services` query.
    if (Date.now() < this.warmUntil) await this.collectWindow(this.warmUntil - Date.now());
    return this.collect();
  }

  watch(o: WatchOptions = {}): Watcher {
    const w: { q: AsyncQueue<RegistryEvent>; service?: string } = {
      q: new AsyncQueue<RegistryEvent>(() => this.watchers.delete(w)),
    };
    if (o.service !== undefined) w.service = o.service;
    if (this.closed) w.q.end();
    else {
      this.watchers.add(w);
      this.ready().catch((e: unknown) => w.q.end(e));
    }
    return Object.assign(w.q, { stop: () => w.q.end() }) as unknown as Watcher;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.probe?.seen();
    for (const done of [...this.pending]) done();
    for (const w of [...this.watchers]) w.q.end();
    await this.starting?.catch(() => undefined);
    clearTimeout(this.sweepTimer);
    clearInterval(this.renewTimer);
    const sock = this.socket;
    if (sock) {
      // Leaving: peers drop our nodes now rather than when their TTL runs out.
      await Promise.all([...this.own.values()].map((inst) => this.send(this.packet(inst, true))));
      for (const a of this.joined) {
        try {
          sock.dropMembership(GROUP, a);
        } catch {
          // the interface may be gone
        }
      }
      this.socket = undefined;
      await new Promise<void>((r) => sock.close(() => r()));
    }
    this.own.clear();
    this.cache.clear();
    this.echoes.clear();
  }

  private ready(): Promise<void> {
    if (this.closed) return Promise.reject(serviceUnavailable(ID, "the mdns registry is closed"));
    return (this.starting ??= this.start());
  }

  private async start(): Promise<void> {
    const sock = dgram.createSocket({ type: "udp4", reuseAddr: true });
    sock.on("message", (m, r) => this.onPacket(m, r));
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(this.port, () => {
          sock.off("error", reject);
          resolve();
        });
      });
      // Send errors (a record too big for a datagram, ...) must not crash the process.
      sock.on("error", () => undefined);
      const all = this.iface === "0.0.0.0";
      const addrs = all
        ? Object.values(networkInterfaces()).flatMap((l) =>
            (l ?? []).filter((i) => i.family === "IPv4").map((i) => i.address),
          )
        : [this.iface];
      for (const a of addrs) {
        try {
          sock.addMembership(GROUP, a);
          this.joined.push(a);
        } catch {
          // e.g. two addresses on one interface: the group is joined once
        }
      }
      if (this.joined.length === 0) throw new Error(`cannot join ${GROUP} on ${this.iface}`);
      if (!all) sock.setMulticastInterface(this.iface);
      sock.setMulticastLoopback(true);
      sock.setMulticastTTL(this.loopbackOnly ? 1 : 255);
      this.socket = sock;
      await this.runProbe();
      if (this.closed) throw serviceUnavailable(ID, "the mdns registry is closed");
    } catch (e) {
      this.socket = undefined;
      sock.close();
      if (e instanceof Error && e.name === "MicroError") throw e;
      throw serviceUnavailable(
        ID,
        `cannot start mdns on ${this.iface}:${this.port}: ${String(e)}`,
        { cause: e },
      );
    }
    this.warmUntil = Date.now() + this.timeout;
    this.query(`_services.${this.domain}.`);
    this.renewTimer = setInterval(() => {
      for (const inst of this.own.values()) if (inst.ttl === 0) this.send(this.packet(inst, false));
    }, this.recordTTL / 3);
    this.renewTimer.unref();
  }

  /** Multicast must come back to us, or peers on this host would never hear us either. */
  private runProbe(): Promise<void> {
    const name = `_probe-${randomBytes(6).toString("hex")}.${this.domain}.`;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.probe = undefined;
        reject(
          serviceUnavailable(
            ID,
            `multicast on ${this.iface}:${this.port} does not loop back; set MICRO_MDNS_INTERFACE or use another registry`,
          ),
        );
      }, this.probeTimeout);
      this.probe = {
        name,
        seen: () => {
          clearTimeout(t);
          this.probe = undefined;
          resolve();
        },
      };
      this.socket!.send(
        encodeMessage({ questions: [{ name, type: TYPES.PTR, class: CLASS_IN }] }),
        this.port,
        GROUP,
      );
    });
  }

  private send(buf: Buffer, to?: dgram.RemoteInfo): Promise<void> {
    const sock = this.socket;
    if (!sock) return Promise.resolve();
    if (!to) {
      const now = Date.now();
      if (this.echoes.size > 256)
        for (const [k, t] of this.echoes) if (t < now) this.echoes.delete(k);
      this.echoes.set(buf.toString("latin1"), now + 5000);
    }
    return new Promise((resolve) =>
      sock.send(buf, to?.port ?? this.port, to?.address ?? GROUP, () => resolve()),
    );
  }

  private query(name: string): void {
    try {
      void this.send(encodeMessage({ questions: [{ name, type: TYPES.PTR, class: CLASS_IN }] }));
    } catch {
      // a service name that cannot be a DNS name cannot be on mdns either
    }
  }

  /** Waits `ms`, or until GRACE_MS after the first answer about `service` when one is given. */
  private collectWindow(ms: number, service?: string): Promise<void> {
    return new Promise((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const onArrival = (s: string) => {
        if (s === service && !grace) grace = setTimeout(done, GRACE_MS);
      };
      const done = () => {
        clearTimeout(t);
        clearTimeout(grace);
        this.arrivals.delete(onArrival);
        this.pending.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.pending.add(done);
      if (service !== undefined) {
        this.arrivals.add(onArrival);
        this.query(`${service}.${this.domain}.`);
      }
    });
  }

  private packet(inst: Instance, goodbye: boolean): Buffer {
    const { record: r, fqdn } = inst;
    const node = r.nodes[0]!;
    const ttlMs = goodbye
      ? 0
      : inst.ttl > 0
        ? Math.max(1, inst.expires - Date.now())
        : this.recordTTL;
    const ttl = goodbye ? 0 : Math.ceil(ttlMs / 1000);
    const d = this.domain;
    const txt: MdnsTxt = {
      Service: r.name,
      Version: r.version,
      Endpoints: r.endpoints ?? [],
      Metadata: node.metadata ?? {},
      ServiceMetadata: r.metadata ?? {},
      Id: node.id,
      Address: node.address,
      Ttl: ttlMs,
    };
    const { host, port } = splitAddress(node.address);
    const flush = CLASS_IN | CLASS_TOP_BIT;
    const answers: ResourceRecord[] = [
      {
        name: `_services.${d}.`,
        type: TYPES.PTR,
        class: CLASS_IN,
        ttl,
        data: `${r.name}._services.${d}.`,
      },
      { name: `${r.name}.${d}.`, type: TYPES.PTR, class: CLASS_IN, ttl, data: fqdn },
      {
        name: fqdn,
        type: TYPES.SRV,
        class: flush,
        ttl,
        data: { priority: 0, weight: 0, port, target: fqdn },
      },
      { name: fqdn, type: TYPES.TXT, class: flush, ttl, data: encodeTxt(txt) },
    ];
    const family = isIP(host);
    if (family)
      answers.push({
        name: fqdn,
        type: family === 4 ? TYPES.A : TYPES.AAAA,
        class: flush,
        ttl,
        data: host,
      });
    return encodeMessage({ flags: FLAG_RESPONSE | FLAG_AUTHORITATIVE, answers });
  }

  private onPacket(buf: Buffer, from: dgram.RemoteInfo): void {
    try {
      if (this.closed) return;
      if (this.loopbackOnly && !from.address.startsWith("127.")) return;
      const key = buf.toString("latin1");
      if (this.echoes.delete(key)) return;
      const m = decodeMessage(buf);
      if (m.flags & FLAG_RESPONSE) this.onResponse(m);
      else this.onQuery(m, from);
    } catch {
      // malformed packets are ignored
    }
  }

  private onQuery(m: Message, from: dgram.RemoteInfo): void {
    const d = this.domain;
    const answer = new Set<Instance>();
    let unicast = from.port !== this.port;
    for (const q of m.questions) {
      const name = q.name.toLowerCase();
      if (this.probe && name === this.probe.name) this.probe.seen();
      if (q.class & CLASS_TOP_BIT) unicast = true;
      const all = name === `_services.${d}.` || name === `_services._dns-sd._udp.${d}.`;
      for (const inst of this.own.values()) {
        const svc = `${inst.record.name.toLowerCase()}.${d}.`;
        if (all || name === svc || name === inst.fqdn.toLowerCase()) answer.add(inst);
      }
    }
    for (const inst of answer) {
      if (inst.expires <= Date.now()) continue;
      const p = this.packet(inst, false);
      void this.send(p);
      if (unicast) void this.send(p, from);
    }
  }

  private onResponse(m: Message): void {
    const d = this.domain;
    const rrs = [...m.answers, ...m.additionals];
    const srv = new Map<string, { port: number; target: string }>();
    const ips = new Map<string, string>();
    for (const r of rrs) {
      if (r.type === TYPES.SRV)
        srv.set(r.name.toLowerCase(), r.data as { port: number; target: string });
      else if (r.type === TYPES.A || r.type === TYPES.AAAA)
        ips.set(r.name.toLowerCase(), r.data as string);
    }
    for (const r of rrs) {
      if (r.type !== TYPES.TXT) continue;
      const fqdn = r.name.toLowerCase();
      const txt = decodeTxt(r.data as string[]);
      if (!txt || !fqdn.endsWith(`.${txt.Service.toLowerCase()}.${d}.`)) continue;
      const s = srv.get(fqdn);
      const ip = s && ips.get(s.target.toLowerCase());
      const address =
        txt.Address ??
        (s && ip ? (ip.includes(":") ? `[${ip}]:${s.port}` : `${ip}:${s.port}`) : "");
      const id = txt.Id ?? fqdn.slice(0, fqdn.indexOf("."));
      if (!address) continue;
      const record: ServiceRecord = {
        name: txt.Service,
        version: txt.Version || "latest",
        metadata: txt.ServiceMetadata ?? {},
        endpoints: txt.Endpoints ?? [],
        nodes: [{ id, address, metadata: txt.Metadata ?? {} }],
      };
      const key = keyOf(record.name, record.version, id);
      if (this.own.has(key)) continue;
      if (r.ttl === 0) this.drop(key);
      else
        this.store({
          key,
          fqdn,
          record: cloneRecord(record),
          expires: Date.now() + (txt.Ttl ?? r.ttl * 1000),
          ttl: 0,
        });
    }
  }

  private store(inst: Instance): void {
    const old = this.cache.get(inst.key);
    const { name, version } = inst.record;
    let action: Action | undefined = "update";
    if (!old) {
      const sibling = [...this.cache.values()].some(
        (i) => i.record.name === name && i.record.version === version,
      );
      if (!sibling) action = "create";
    } else if (JSON.stringify(old.record) === JSON.stringify(inst.record)) action = undefined;
    this.cache.set(inst.key, inst);
    if (action) this.emit(action, inst.record);
    for (const fn of [...this.arrivals]) fn(name);
    this.scheduleSweep();
  }

  private drop(key: string): void {
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    this.emit("delete", old.record);
    this.scheduleSweep();
  }

  /** One record per version, nodes merged; all services when `name` is undefined. */
  private collect(name?: string): ServiceRecord[] {
    this.sweep();
    const byVersion = new Map<string, ServiceRecord>();
    for (const { record: r } of this.cache.values()) {
      if (name !== undefined && r.name !== name) continue;
      const k = `${r.name}\n${r.version}`;
      const had = byVersion.get(k);
      if (had) had.nodes.push(...r.nodes);
      else byVersion.set(k, { ...r, nodes: [...r.nodes] });
    }
    return [...byVersion.values()].map(cloneRecord);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, inst] of this.cache) {
      if (inst.expires > now) continue;
      this.own.delete(key);
      this.drop(key);
    }
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    let next = Infinity;
    for (const inst of this.cache.values()) next = Math.min(next, inst.expires);
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    if (next === Infinity || this.closed) return;
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(0, next - Date.now()) + 1);
    this.sweepTimer.unref();
  }

  private emit(action: Action, service: ServiceRecord): void {
    const ev: RegistryEvent = { action, service: cloneRecord(service), timestamp: Date.now() };
    for (const w of this.watchers)
      if (w.service === undefined || w.service === service.name) w.q.push(ev);
  }
}

export function mdnsRegistry(opts: MdnsRegistryOptions = {}): MdnsRegistry {
  return new MdnsRegistry(opts);
}
