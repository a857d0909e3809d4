// Calls the greeter found in etcd and publishes on NATS (same environment as greeter.ts).
import { Service } from "@micro-ts/micro";

const service = new Service({ name: "nats-etcd-caller" });
await service.start();
try {
  const rsp = await service.client.call<{ msg: string }>("nats-etcd-greeter", "Greeter.Hello", { name: "Ada" });
  console.log(rsp.msg);
  await service.publish("orders.created", { id: "42" });
} finally {
  await service.stop();
}
