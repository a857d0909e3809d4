import { runTransportConformance } from "./conformance.js";
import { memoryTransport } from "./memory.js";

runTransportConformance({ name: "memory", create: () => memoryTransport(), backpressure: false });
