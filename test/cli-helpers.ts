/** Runs the real `micro` binary as a child process with a private config dir. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./helpers.js";

export const MICRO_BIN = join(ROOT, "packages/cli/bin/micro.js");

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `micro ...args` to completion. */
export function micro(args: string[], o: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MICRO_BIN, ...args], {
      cwd: o.cwd ?? ROOT,
      env: { ...process.env, NODE_OPTIONS: "", MICRO_SERVER: "", ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
