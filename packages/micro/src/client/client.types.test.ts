// Checked by `tsc --noEmit` (npm run typecheck), never run: proves the typed client follows the class.
import type { Context } from "../context/context.js";
import type { ClientOf, ResponseStream } from "./client.js";

class Greeter {
  async hello(req: { name: string }, _ctx?: Context): Promise<{ msg: string }> {
    return { msg: req.name };
  }
  async *count(req: { to: number }): AsyncGenerator<{ n: number }> {
    yield { n: req.to };
  }
  sync(req: { a: number }): number {
    return req.a;
  }
  _private(): void {}
  field = 1;
}

declare const g: ClientOf<Greeter>;

export async function typed(): Promise<void> {
  const r: { msg: string } = await g.hello({ name: "Ada" }, { timeout: 1000 });
  void r;
  const s: ResponseStream<{ n: number }> = g.count({ to: 3 });
  for await (const x of s) {
    const n: number = x.n;
    void n;
  }
  const n: number = await g.sync({ a: 1 });
  void n;

  // @ts-expect-error wrong request shape
  await g.hello({ nome: "Ada" });
  // @ts-expect-error wrong field type
  await g.hello({ name: 42 });
  // @ts-expect-error the response has no such field
  (await g.hello({ name: "Ada" })).nope;
  // @ts-expect-error stream items are typed
  for await (const x of g.count({ to: 1 })) x.m;
  // @ts-expect-error methods starting with _ are not endpoints
  g._private();
  // @ts-expect-error fields are not endpoints
  g.field;
  // @ts-expect-error unknown method
  g.goodbye({});
}
