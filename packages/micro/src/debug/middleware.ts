/**
 * What a Service installs: stats and the server span as one ServerObserver (synchronous
 * hooks, no promise per call). statsMiddleware and traceServerMiddleware do the same as
 * middleware, for servers assembled by hand.
 */
import { performance } from "node:perf_hooks";
import type { ServerObserver } from "../server/server.js";
import type { Stats } from "./stats.js";
import { CallNames, isDebugEndpoint, startServerSpan, type Tracer } from "./trace.js";

export function debugServerObserver(stats: Stats | undefined, tracer: Tracer | undefined, sample = 1): ServerObserver {
  const names = new CallNames();
  return {
    start(call) {
      if (isDebugEndpoint(call.endpoint)) return undefined;
      const e = stats?.endpoint(call.endpoint);
      if (e) stats!.begin(e);
      const span = tracer && startServerSpan(tracer, names, call.service, call.endpoint, call.context.metadata, sample);
      if (!e && !span) return undefined;
      const t0 = performance.now();
      return (err?: unknown) => {
        if (e) stats!.done(e, call.stream ? undefined : performance.now() - t0, err);
        span?.end(err);
      };
    },
  };
}
