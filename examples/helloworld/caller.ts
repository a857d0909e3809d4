// Run (with service.ts running in another terminal):
//   node --conditions=micro-source --import tsx examples/helloworld/caller.ts
import { Service } from "@micro-ts/micro";
import type { Greeter } from "./greeter.js";

const service = new Service({ name: "caller" });
await service.start();
try {
  const greeter = service.client.service<Greeter>("greeter", "Greeter"); // typed from the class
  const rsp = await greeter.hello({ name: "Ada" }, { timeout: 2_000 });
  console.log(rsp.msg);
  for await (const x of greeter.count({ to: 3 })) console.log("count", x.n);
  console.log(JSON.stringify(await service.client.call("greeter", "Greeter.Hello", { name: "Bob" })));
  await service.publish("user.created", { id: "1" });
} finally {
  await service.stop();
}
