/** How commands print: human-readable by default, `--output json` for scripts. */
export type Format = "text" | "json";

export interface Out {
  format: Format;
  /** Prints a value: JSON in json mode, else what `human` renders (pretty JSON by default). */
  print(value: unknown, human?: () => string): void;
  line(s: string): void;
  err(s: string): void;
}

export function output(format: Format, stdout = process.stdout, stderr = process.stderr): Out {
  return {
    format,
    print(value, human) {
      if (format === "json") stdout.write(`${JSON.stringify(value)}\n`);
      else stdout.write(`${human ? human() : JSON.stringify(value, null, 2)}\n`);
    },
    line: (s) => void stdout.write(`${s}\n`),
    err: (s) => void stderr.write(`${s}\n`),
  };
}

/** A plain table with padded columns. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)].join("\n");
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
