/** Helpers for integration tests: real child processes running TypeScript fixtures. */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface Child {
  proc: ChildProcess;
  /** Every JSON line the child printed on stdout, in order. */
  lines: Record<string, unknown>[];
  /** Resolves with the first line (already printed or future) that matches. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  stderr(): string;
}

/** Starts `node --conditions=micro-source --import tsx FILE` with the given env. */
export function startTs(file: string, env: Record<string, string> = {}, args: string[] = []): Child {
  const proc = spawn(process.execPath, ["--conditions=micro-source", "--import", "tsx", file, ...args], {
    cwd: ROOT,
    env: { ...process.env, MICRO_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(line) as Record<string, unknown>;
    } catch {
      l = { text: line };
    }
    lines.push(l);
    for (const w of [...waiters]) {
      if (w.pred(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => proc.on("exit", (code, sig) => resolve(code ?? sig ?? -1)));
  return {
    proc,
    lines,
    exited,
    stderr: () => err,
    waitFor(pred, ms = 20_000) {
      const hit = lines.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for a line; stderr:\n${err.slice(-2000)}`)), ms);
        const w = {
          pred,
          resolve: (l: Record<string, unknown>) => {
            clearTimeout(t);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then((code) => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            reject(new Error(`child exited (${code}) before the line came; stderr:\n${err.slice(-2000)}`));
          }
        });
      });
    },
  };
}

/** A random UDP port for a test file's own mdns domain, so parallel test files never meet. */
export function randomMdnsPort(): string {
  return String(20000 + Math.floor(Math.random() * 30000));
}
