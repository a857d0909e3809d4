import { runEventsConformance } from "./conformance.js";
import { memoryEvents } from "./memory.js";

runEventsConformance({ name: "memory", create: () => memoryEvents() });
