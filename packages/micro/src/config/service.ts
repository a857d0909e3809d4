/**
 * A config source served by the `config` core service of a `micro server`: the server keeps
 * one JSON document (in its store); this source reads it, or the subtree at `path`, and
 * watches it through a stream that reopens when the server restarts.
 *   const config = await newConfig({ sources: [envSource(), serviceSource({ address })] });
 */
import { keepStream, Remote, type RemoteOptions } from "../util/remote.js";
import type { Source } from "./config.js";

export interface ServiceSourceOptions extends RemoteOptions {
  /** Only the subtree at this dot path, e.g. the service's name. @default the whole document */
  path?: string;
  /** @default "service" */
  name?: string;
}

export const CONFIG_SERVICE = "config";

export function serviceSource(opts: ServiceSourceOptions): Source {
  const remote = new Remote(CONFIG_SERVICE, opts);
  const path = opts.path ?? "";
  let watching = 0;
  return {
    name: opts.name ?? "service",
    async read() {
      const rsp = await remote.call<{ value: unknown }>("Config.Read", { path });
      const v = rsp.value;
      return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
    },
    watch(onChange) {
      watching++;
      const kept = keepStream<{ path: string }>(remote, "Config.Watch", {
        request: () => ({ path }),
        onItem: () => onChange(),
        // Anything may have changed while the server was away.
        onReconnect: () => onChange(),
        persistent: true,
      });
      kept.ready.catch(() => {});
      let stopped = false;
      return () => {
        if (stopped) return;
        stopped = true;
        kept.stop();
        // The last watcher gone: drop the connection so it does not hold the process open.
        if (--watching === 0) void remote.close(false);
      };
    },
  };
}
