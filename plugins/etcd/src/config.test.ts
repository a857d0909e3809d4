import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { newConfig } from "@micro-ts/micro";
import { Etcd3 } from "etcd3";
import { etcdConfigSource, treeOf } from "./config.js";
import { testEtcd } from "./test-server.js";

const etcd = await testEtcd();
after(() => etcd.stop());

describe("etcd config source", () => {
  it("reads keys under the prefix into a nested object, JSON values parsed", () => {
    assert.deepEqual(
      treeOf([
        ["db/host", "db1"],
        ["db/port", "5432"],
        ["flags", '{"x":true}'],
        ["db", "ignored: db is an object"],
      ]),
      { db: { host: "db1", port: 5432 }, flags: { x: true } },
    );
  });

  it("loads the prefix and fires config.watch when a key changes in etcd", async (t) => {
    const prefix = `/micro-test/config-${randomUUID().slice(0, 8)}/`;
    const raw = new Etcd3({ hosts: etcd.address });
    const source = etcdConfigSource({ hosts: etcd.address, prefix });
    await raw.put(`${prefix}database/host`).value("db1");
    await raw.put(`${prefix}database/port`).value("5432");
    const config = await newConfig({ sources: [source] });
    t.after(async () => {
      await config.close();
      await source.close();
      await raw.delete().prefix(prefix);
      raw.close();
    });
    assert.equal(config.get("database.host").string(), "db1");
    assert.equal(config.get("database.port").number(), 5432);

    const it = config.watch("database.host")[Symbol.asyncIterator]();
    const next = it.next();
    await raw.put(`${prefix}database/host`).value("db2");
    assert.equal((await next).value?.string(), "db2");

    const gone = it.next();
    await raw.delete().key(`${prefix}database/host`);
    assert.equal((await gone).value?.exists(), false);
    await it.return?.();
  });
});
