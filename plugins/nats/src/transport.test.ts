import { after } from "node:test";
import { runTransportConformance } from "@micro-ts/micro/conformance";
import { natsTransport, type NatsTransport } from "./transport.js";
import { NATS_ADDRESS } from "./test-env.js";

const made: NatsTransport[] = [];
after(() => Promise.all(made.map((t) => t.close())));

runTransportConformance({
  name: "nats",
  create: () => {
    const t = natsTransport({ servers: NATS_ADDRESS, heartbeat: 200 });
    made.push(t);
    return t;
  },
});
