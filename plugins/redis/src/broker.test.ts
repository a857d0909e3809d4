import { after } from "node:test";
import { runBrokerConformance } from "@micro-ts/micro/conformance";
import { redisBroker } from "./broker.js";
import { dropNamespace, REDIS_URL, testNamespace } from "./test-env.js";

const namespace = testNamespace("broker");
runBrokerConformance({ name: "redis", create: () => redisBroker({ url: REDIS_URL, namespace }) });
runBrokerConformance({
  name: "redis (two instances)",
  createPair: async () => [redisBroker({ url: REDIS_URL, namespace }), redisBroker({ url: REDIS_URL, namespace })],
  create: () => redisBroker({ url: REDIS_URL, namespace }),
});
after(() => dropNamespace(namespace));
