/** Splits "host:port" or "[v6]:port"; throws a TypeError for anything else. */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  if (!m) throw new TypeError(`invalid address ${JSON.stringify(address)}: want host:port`);
  const port = Number(m[2]);
  if (port > 65535) throw new TypeError(`invalid port in ${JSON.stringify(address)}`);
  return { host: m[1] || "127.0.0.1", port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
