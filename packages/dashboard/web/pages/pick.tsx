/** A service picker over the non-core services, navigating to `#/{section}/{name}`. */
import { CORE, listServices } from "../api";
import { useLoad } from "../ui";

export function ServicePicker({ value, href }: { value: string | undefined; href: (name: string) => string }) {
  const list = useLoad(listServices, []);
  const names = [...new Set((list.data ?? []).map((r) => r.name).filter((n) => !CORE.has(n)))].sort();
  return (
    <select name="service" value={value ?? ""} onChange={(e) => (location.hash = href(e.currentTarget.value))}>
      <option value="">choose a service…</option>
      {names.map((n) => (
        <option value={n}>{n}</option>
      ))}
    </select>
  );
}
