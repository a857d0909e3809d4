// A greeter that finds and is found through etcd, and takes messages from NATS — chosen by
// environment, with no plugin named in the code:
//   MICRO_REGISTRY=etcd MICRO_REGISTRY_ADDRESS=127.0.0.1:2379 MICRO_BROKER=nats \
//     node --conditions=micro-source --import tsx examples/nats-etcd/greeter.ts
import { Service } from "@micro-ts/micro";

const service = new Service({ name: "nats-etcd-greeter" });
service.handle(
  { async hello(req: { name: string }) { return { msg: `Hello ${req.name} (registry ${service.registry.name}, transport ${service.transport.name})` }; } },
  { name: "Greeter" },
);
service.subscribe<{ id: string }>("orders.created", (order) => console.log(JSON.stringify({ order: order.id })), { queue: "greeter" });
await service.start();
console.log(JSON.stringify({ ready: true }));
await service.run();
