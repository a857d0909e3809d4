import type { ResponseStream } from "./client.js";

/**
 * What a typed client method returns: awaiting it makes a unary call, iterating it opens
 * a stream. The call starts on first use, so the same proxy method serves both kinds.
 */
export function callHandle<T>(unary: () => Promise<T>, stream: () => ResponseStream<T>): Promise<T> & ResponseStream<T> {
  let p: Promise<T> | undefined;
  let s: ResponseStream<T> | undefined;
  const promise = () => (p ??= unary());
  const handle = {
    then<A = T, B = never>(ok?: ((v: T) => A | PromiseLike<A>) | null, fail?: ((e: unknown) => B | PromiseLike<B>) | null) {
      return promise().then(ok, fail);
    },
    catch<B = never>(fail?: ((e: unknown) => B | PromiseLike<B>) | null) {
      return promise().catch(fail);
    },
    finally(f?: (() => void) | null) {
      return promise().finally(f);
    },
    [Symbol.asyncIterator]() {
      s ??= stream();
      return s[Symbol.asyncIterator]();
    },
    cancel() {
      s?.cancel();
    },
    [Symbol.toStringTag]: "CallHandle",
  };
  return handle as unknown as Promise<T> & ResponseStream<T>;
}
