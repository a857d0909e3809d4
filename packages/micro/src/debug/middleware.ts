/**
 * The server middleware a Service installs: stats and the server span in one layer, so a
 * call pays for one middleware frame instead of two. statsMiddleware and
 * traceServerMiddleware do the same separately, for servers assembled by hand.
 */
import { performance } from "node:perf_hooks";
import type { ServerMiddleware } from "../server/server.js";
import type { Stats } from "./stats.js";
import { CallNames, isDebugEndpoint, onIterableEnd, startServerSpan, type ActiveSpan, type Tracer } from "./trace.js";

export function debugServerMiddleware(stats: Stats | undefined, tracer: Tracer | undefined, sample = 1): ServerMiddleware {
  const names = new CallNames();
  return async (req, next) => {
    if (isDebugEndpoint(req.endpoint)) return next();
    const e = stats?.endpoint(req.endpoint);
    if (e) stats!.begin(e);
    const span: ActiveSpan | undefined = tracer && startServerSpan(tracer, names, req.service, req.endpoint, req.context.metadata, sample);
    const t0 = performance.now();
    let result: unknown;
    try {
      result = await next();
    } catch (err) {
      if (e) stats!.done(e, req.stream ? undefined : performance.now() - t0, err);
      span?.end(err);
      throw err;
    }
    if (!req.stream || !result || typeof result !== "object") {
      if (e) stats!.done(e, req.stream ? undefined : performance.now() - t0);
      span?.end();
      return result;
    }
    return onIterableEnd(result as AsyncIterable<unknown>, (err) => {
      if (e) stats!.done(e, undefined, err);
      span?.end(err);
    });
  };
}
