// Run: node --conditions=micro-source --import tsx examples/helloworld/service.ts
import { Service } from "@micro-ts/micro";
import { Greeter } from "./greeter.js";

const service = new Service({ name: "greeter", version: "1.0.0" });
service.handle(new Greeter());
service.subscribe<{ id: string }>("user.created", (ev) => service.logger.info("user created", { id: ev.id }), { queue: "greeter" });
await service.run(); // listen, register, heartbeat; SIGINT/SIGTERM: deregister, drain, exit 0
