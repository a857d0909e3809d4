import type { Context } from "@micro-ts/micro";
import { errors } from "@micro-ts/micro";

/** A handler: every async method is an endpoint (`Greeter.Hello`), `async *` methods stream. */
export class Greeter {
  async hello(req: { name: string }, ctx: Context): Promise<{ msg: string }> {
    if (!req.name) throw errors.badRequest("greeter.hello", "name is required");
    void ctx;
    return { msg: `Hello ${req.name}` };
  }

  async *count(req: { to: number }): AsyncGenerator<{ n: number }> {
    for (let i = 1; i <= req.to; i++) yield { n: i };
  }
}
