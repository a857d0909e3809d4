/** Request bodies: read with a size limit and a deadline, then decoded to a JSON request. */
import type { IncomingMessage } from "node:http";
import { errors, MicroError } from "@micro-ts/micro";
import busboy from "busboy";

/** Pending body reads, swept by one timer instead of a timer per request. */
export class BodyReads {
  private readonly pending = new Map<IncomingMessage, { deadline: number; fail: (e: MicroError) => void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly timeout: number) {}

  add(req: IncomingMessage, fail: (e: MicroError) => void): void {
    this.pending.set(req, { deadline: Date.now() + this.timeout, fail });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.max(10, Math.min(1000, this.timeout / 4)));
      this.timer.unref();
    }
  }

  delete(req: IncomingMessage): void {
    this.pending.delete(req);
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [req, p] of this.pending) {
      if (p.deadline <= now) {
        this.delete(req);
        p.fail(errors.timeout("gateway", `request body not received within ${this.timeout} ms`));
      }
    }
  }

  close(): void {
    for (const [req, p] of this.pending) {
      this.delete(req);
      p.fail(errors.serviceUnavailable("gateway", "gateway is closing"));
    }
  }
}

/**
 * Reads the whole body, up to `limit` bytes. Over the limit it rejects with a 413 at once and
 * stops buffering; past the read deadline with a 408. An empty body is an empty buffer.
 */
export function readBody(req: IncomingMessage, limit: number, reads: BodyReads): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(errors.payloadTooLarge("gateway", `request body over ${limit} bytes`));
  }
  if (req.complete && req.readableLength === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (e?: MicroError) => {
      reads.delete(req);
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      req.removeListener("error", onError);
      req.removeListener("close", onClose);
      if (!e) return resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      // stop reading: what is left is never buffered, and the connection is closed after the reply
      req.pause();
      reject(e);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return done(errors.payloadTooLarge("gateway", `request body over ${limit} bytes`));
      chunks.push(c);
    };
    const onEnd = () => done();
    const onError = () => done(errors.badRequest("gateway", "request body aborted"));
    const onClose = () => {
      if (!req.complete) done(new MicroError("gateway", "client closed the request", 499));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
    reads.add(req, done);
  });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string {
  if (!header) return "";
  const i = header.indexOf(";");
  return (i === -1 ? header : header.slice(0, i)).trim().toLowerCase();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses a JSON request: it must be an object (an empty body is `{}`). */
export function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw errors.badRequest("gateway", "malformed JSON in request body");
  }
  if (!isObject(v)) throw errors.badRequest("gateway", "request body must be a JSON object");
  return v;
}

/** Adds a field, turning repeated keys into arrays. */
function put(out: Record<string, unknown>, k: string, v: string): void {
  if (k === "__proto__") return;
  const prev = out[k];
  if (prev === undefined) out[k] = v;
  else if (Array.isArray(prev)) prev.push(v);
  else out[k] = [prev, v];
}

/** A query string (without `?`) or url-encoded form as a request: strings, repeated keys → arrays. */
export function parseQuery(q: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (q === "") return out;
  for (const [k, v] of new URLSearchParams(q)) put(out, k, v);
  return out;
}

/** Text fields of a multipart/form-data body; file parts are refused. */
export function parseMultipart(body: Buffer, contentType: string, limit: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const out: Record<string, unknown> = {};
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { "content-type": contentType }, limits: { fieldSize: limit, fields: 1000, parts: 1000, files: 0 } });
    } catch {
      return reject(errors.badRequest("gateway", "malformed multipart content type"));
    }
    let failed: MicroError | undefined;
    const fail = (e: MicroError) => {
      failed ??= e;
    };
    bb.on("field", (name, value, info) => {
      if (info.valueTruncated) fail(errors.payloadTooLarge("gateway", `form field ${name} too large`));
      else put(out, name, value);
    });
    bb.on("file", (name, stream) => {
      stream.resume();
      fail(errors.badRequest("gateway", `form field ${name}: file uploads are not supported`));
    });
    bb.on("filesLimit", () => fail(errors.badRequest("gateway", "file uploads are not supported")));
    bb.on("fieldsLimit", () => fail(errors.payloadTooLarge("gateway", "too many form fields")));
    bb.on("partsLimit", () => fail(errors.payloadTooLarge("gateway", "too many form parts")));
    bb.on("error", () => reject(failed ?? errors.badRequest("gateway", "malformed multipart body")));
    bb.on("close", () => (failed ? reject(failed) : resolve(out)));
    bb.end(body);
  });
}

/** Decodes a body by its Content-Type into the request object. */
export function decode(body: Buffer, contentType: string | undefined, limit: number): Record<string, unknown> | Promise<Record<string, unknown>> {
  const type = mediaType(contentType);
  if (type === "" || type === "application/json" || type.endsWith("+json")) return parseJson(body);
  if (type === "application/x-www-form-urlencoded") {
    // `curl -d '{"name":"Ada"}'` sends JSON labelled as a form: take it as JSON.
    const text = body.toString("utf8");
    const t = text.trimStart();
    if (t.startsWith("{")) return parseJson(body);
    return parseQuery(text);
  }
  if (type === "multipart/form-data") return parseMultipart(body, contentType!, limit);
  if (type === "text/plain" && body.length === 0) return {};
  throw new MicroError("gateway", `unsupported content type ${type}: send application/json, a url-encoded or a multipart form`, 415);
}
