import type { Logger } from "../logger/logger.js";
import { Engine, type EventStore, type GroupState } from "./engine.js";
import type { Events } from "./events.js";

export interface MemoryEventsOptions {
  /** Where internal failures are reported. @default none */
  logger?: Logger;
}

/** Events held in this process: the same semantics as the file stream, nothing survives a restart. */
export function memoryEvents(opts: MemoryEventsOptions = {}): Events {
  const groups = new Map<string, GroupState>();
  const store: EventStore = {
    append: () => Promise.resolve(),
    loadGroup: (t, g) => groups.get(`${t}\u0000${g}`),
    saveGroup: (t, g, s) => {
      groups.set(`${t}\u0000${g}`, s);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return new Engine({ store, ...(opts.logger ? { logger: opts.logger } : {}) });
}
