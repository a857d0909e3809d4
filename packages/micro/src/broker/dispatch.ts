import type { Logger } from "../logger/logger.js";
import type { BrokerEvent, BrokerHandler } from "./broker.js";

/**
 * Runs a handler and settles once it has finished, never rejecting: a handler's error is
 * the subscriber's problem, so it is logged and never reaches the publisher.
 */
export async function invoke(handler: BrokerHandler, ev: BrokerEvent, logger: Logger): Promise<void> {
  try {
    await handler(ev);
  } catch (err) {
    logger.error("broker handler failed", { topic: ev.topic, error: err });
  }
}

/** Fisher–Yates: a random order in which to try a queue group's members. */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
