/** The dashboard: a hash-routed single-page app over the gateway (see api.ts). */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { session } from "./api";
import { ConfigPage } from "./pages/config";
import { EventsPage } from "./pages/events";
import { Login } from "./pages/login";
import { LogsPage } from "./pages/logs";
import { ServicePage } from "./pages/service";
import { ServicesPage } from "./pages/services";
import { StorePage } from "./pages/store";
import { TracePage, TracesPage } from "./pages/traces";
import "./style.css";

/** `#/a/b?x=1` → { parts: ["a", "b"], query } */
function parseHash(): { parts: string[]; query: URLSearchParams } {
  const h = location.hash.replace(/^#\/?/, "");
  const [path = "", q = ""] = h.split("?", 2);
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

const NAV = [
  ["services", "Services"],
  ["logs", "Logs"],
  ["traces", "Traces"],
  ["store", "Store"],
  ["config", "Config"],
  ["events", "Events"],
] as const;

function App() {
  const [route, setRoute] = useState(parseHash);
  const [, setTick] = useState(0);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    const off = session.subscribe(() => setTick((n) => n + 1));
    return () => {
      removeEventListener("hashchange", on);
      off();
    };
  }, []);
  const [section = "services", a, b] = route.parts;
  let page;
  if (session.loginWanted) page = <Login />;
  else if (section === "services" && a) page = <ServicePage key={a} name={a} />;
  else if (section === "logs") page = <LogsPage key={a ?? ""} service={a} />;
  else if (section === "traces" && a) page = <TracePage key={a} traceId={a} service={route.query.get("service") ?? undefined} />;
  else if (section === "traces") page = <TracesPage service={route.query.get("service") ?? undefined} />;
  else if (section === "store") page = <StorePage key={`${a}/${b}`} database={a} table={b} />;
  else if (section === "config") page = <ConfigPage />;
  else if (section === "events") page = <EventsPage key={a ?? ""} topic={a} />;
  else page = <ServicesPage />;
  return (
    <div class="layout">
      <nav class="side">
        <a class="brand" href="#/services">
          micro
        </a>
        {NAV.map(([id, label]) => (
          <a href={`#/${id}`} class={section === id ? "active" : ""}>
            {label}
          </a>
        ))}
        <div class="grow" />
        {session.token ? (
          <button class="link" onClick={() => session.logout()}>
            Log out
          </button>
        ) : null}
      </nav>
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
