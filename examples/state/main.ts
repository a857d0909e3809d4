// State the Micro way: store, config, events and sync with their durable defaults.
// Run: node --conditions=micro-source --import tsx examples/state/main.ts [DATA_DIR]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileEvents, fileStore, memorySource, newConfig, envSource, defaultsSource, storeSync } from "@micro-ts/micro";

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), "micro-state-"));

// Store: durable key-value records, scoped by database/table.
const store = fileStore({ dir: join(dir, "store"), table: "example" });
await store.write({ key: "user/1", value: { name: "Ada" } });
await store.write({ key: "user/2", value: { name: "Bob" }, expiry: 60_000 });
const [ada] = await store.read("user/1");
console.log("store read", JSON.stringify(ada?.value));
console.log("store list", JSON.stringify(await store.list({ prefix: "user/" })));

// Config: defaults < env (MICRO_CONFIG_*) < memory, watched.
const overrides = memorySource({});
const config = await newConfig({ sources: [defaultsSource({ greeting: { prefix: "Hello" } }), envSource(), overrides] });
console.log("config greeting.prefix", config.get("greeting.prefix").string("Hi"));
const changed = (async () => {
  for await (const v of config.watch("greeting.prefix")) return v.string("");
  return "";
})();
overrides.set("greeting.prefix", "Howdy");
console.log("config watch", await changed);

// Events: a durable stream with consumer groups and acks.
const events = await fileEvents({ dir: join(dir, "events") });
await events.publish("user.created", { id: "1" });
await events.publish("user.created", { id: "2" });
const consumer = events.consume("user.created", { group: "mailer", offset: "earliest" });
const got: string[] = [];
for await (const ev of consumer) {
  got.push((ev.payload as { id: string }).id);
  if (got.length === 2) break;
}
console.log("events consumed", got.join(","));

// Sync: a lock and a leader, on the same store.
const sync = storeSync({ store });
const unlock = await sync.lock("report", { ttl: 5_000 });
console.log("sync locked report");
await unlock();
const leader = await sync.leader("scheduler", { ttl: 5_000 });
await leader.elected();
console.log("sync leader", leader.status());
await leader.resign();

await sync.close();
await events.close();
await config.close();
await store.close();
