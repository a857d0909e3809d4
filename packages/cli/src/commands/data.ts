/** micro publish / subscribe / store / config: the server's broker, store and config services. */
import type { Command } from "commander";
import { jsonArg } from "../context.js";
import { table } from "../output.js";
import type { Wrap } from "./runtime.js";

interface StoreRecordWire {
  key: string;
  value: unknown;
  metadata?: Record<string, unknown>;
  expiry?: number;
}

export function dataCommands(program: Command, wrap: Wrap): void {
  program
    .command("publish")
    .description("publish a message: micro publish user.created '{\"id\":\"1\"}'")
    .argument("<topic>", "the topic")
    .argument("<message>", "the message as JSON")
    .action(
      wrap(async (ctx, topic: string, message: string) => {
        const msg = jsonArg("message", message);
        // The broker's wire form: headers and the JSON body in base64.
        const body = Buffer.from(JSON.stringify(msg)).toString("base64");
        await (await ctx.platform()).callCore("broker", "Broker.Publish", { topic, header: { "Content-Type": "application/json" }, body });
        ctx.out.print({ topic, published: true }, () => `published to ${topic}`);
      }),
    );

  program
    .command("subscribe")
    .description("print every message published to a topic until interrupted")
    .argument("<topic>", "the topic")
    .option("--queue <group>", "share messages with other subscribers of this queue")
    .action(
      wrap(async (ctx, topic: string, o: { queue?: string }) => {
        const p = await ctx.platform();
        const ac = new AbortController();
        process.once("SIGINT", () => ac.abort());
        try {
          for await (const m of p.streamCore<unknown>("broker", "Broker.Subscribe", { topic, ...(o.queue ? { queue: o.queue } : {}) }, ac.signal)) {
            if (typeof m !== "object" || m === null || (m as { ready?: unknown }).ready === true) continue;
            const wire = m as { topic?: string; body?: string };
            const text = Buffer.from(wire.body ?? "", "base64").toString("utf8");
            let payload: unknown = text;
            try {
              payload = JSON.parse(text);
            } catch {
              // not JSON: print the text
            }
            ctx.out.print({ topic: wire.topic ?? topic, message: payload }, () => `${wire.topic ?? topic}: ${JSON.stringify(payload)}`);
          }
        } catch (err) {
          if (!ac.signal.aborted) throw err;
        }
      }),
    );

  const store = program.command("store").description("read and write the server's store");
  const scope = (c: Command) => c.option("--database <db>", "database").option("--table <table>", "table");
  const scoped = (o: { database?: string; table?: string }) => ({ ...(o.database ? { database: o.database } : {}), ...(o.table ? { table: o.table } : {}) });

  scope(store.command("read").description("read a key (or every key with --prefix)").argument("<key>", "the key").option("--prefix", "keys starting with KEY")).action(
    wrap(async (ctx, key: string, o: { prefix?: boolean; database?: string; table?: string }) => {
      const rsp = await (await ctx.platform()).callCore<{ records: StoreRecordWire[] }>("store", "Store.Read", { key, options: { ...scoped(o), ...(o.prefix ? { prefix: true } : {}) } });
      const recs = rsp.records ?? [];
      if (recs.length === 0 && !o.prefix) throw Object.assign(new Error(`key ${key} not found`), { exitCode: 1 });
      ctx.out.print(recs, () => (o.prefix ? table(["KEY", "VALUE"], recs.map((r) => [r.key, JSON.stringify(r.value)])) : typeof recs[0]!.value === "string" ? (recs[0]!.value as string) : JSON.stringify(recs[0]!.value, null, 2)));
    }),
  );
  scope(store.command("write").description("write a key: the value is JSON if it parses, else a string").argument("<key>", "the key").argument("<value>", "the value").option("--expiry <ms>", "time to live in ms")).action(
    wrap(async (ctx, key: string, value: string, o: { expiry?: string; database?: string; table?: string }) => {
      let v: unknown = value;
      try {
        v = JSON.parse(value);
      } catch {
        // a plain string
      }
      await (await ctx.platform()).callCore("store", "Store.Write", { record: { key, value: v, ...(o.expiry ? { expiry: Number(o.expiry) } : {}) }, options: scoped(o) });
      ctx.out.print({ key, written: true }, () => `wrote ${key}`);
    }),
  );
  scope(store.command("delete").description("delete a key").argument("<key>", "the key")).action(
    wrap(async (ctx, key: string, o: { database?: string; table?: string }) => {
      await (await ctx.platform()).callCore("store", "Store.Delete", { key, options: scoped(o) });
      ctx.out.print({ key, deleted: true }, () => `deleted ${key}`);
    }),
  );
  scope(store.command("list").description("list keys").option("--prefix <prefix>", "only keys starting with this")).action(
    wrap(async (ctx, o: { prefix?: string; database?: string; table?: string }) => {
      const rsp = await (await ctx.platform()).callCore<{ keys: string[] }>("store", "Store.List", { options: { ...scoped(o), ...(o.prefix ? { prefix: o.prefix } : {}) } });
      ctx.out.print(rsp.keys ?? [], () => (rsp.keys ?? []).join("\n"));
    }),
  );

  const config = program.command("config").description("read and write the server's config");
  config
    .command("get")
    .argument("<path>", "dotted path, e.g. db.host")
    .action(
      wrap(async (ctx, path: string) => {
        const rsp = await (await ctx.platform()).callCore<{ value: unknown }>("config", "Config.Read", { path });
        ctx.out.print(rsp.value ?? null, () => (typeof rsp.value === "string" ? rsp.value : JSON.stringify(rsp.value ?? null, null, 2)));
      }),
    );
  config
    .command("set")
    .argument("<path>", "dotted path")
    .argument("<value>", "JSON if it parses, else a string")
    .action(
      wrap(async (ctx, path: string, value: string) => {
        let v: unknown = value;
        try {
          v = JSON.parse(value);
        } catch {
          // a plain string
        }
        await (await ctx.platform()).callCore("config", "Config.Set", { path, value: v });
        ctx.out.print({ path, set: true }, () => `set ${path}`);
      }),
    );
  config
    .command("delete")
    .argument("<path>", "dotted path")
    .action(
      wrap(async (ctx, path: string) => {
        await (await ctx.platform()).callCore("config", "Config.Delete", { path });
        ctx.out.print({ path, deleted: true }, () => `deleted ${path}`);
      }),
    );
}
