import { memoryRegistry } from "./memory.js";
import { runRegistryConformance } from "./conformance.js";

runRegistryConformance({ name: "memory", create: () => memoryRegistry({ sweepInterval: 50 }), settle: 500, minTTL: 200 });
