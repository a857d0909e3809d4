import { runBrokerConformance } from "@micro-ts/micro/conformance";
import { natsBroker } from "./broker.js";
import { NATS_ADDRESS } from "./test-env.js";

runBrokerConformance({
  name: "nats",
  create: () => natsBroker({ servers: NATS_ADDRESS }),
  createPair: async () => {
    const a = natsBroker({ servers: NATS_ADDRESS });
    const b = natsBroker({ servers: NATS_ADDRESS });
    await Promise.all([a.connect(), b.connect()]);
    return [a, b];
  },
});
