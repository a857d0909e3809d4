/** A push queue a streaming handler drains: producers push, the handler's loop awaits. */
export class Queue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private done = false;

  push(v: T): void {
    if (this.done) return;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w({ value: v, done: false });
    else this.items.push(v);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }

  /** Ends the queue when `signal` aborts (the caller cancelled or went away). */
  endOn(signal: AbortSignal): this {
    if (signal.aborted) this.end();
    else signal.addEventListener("abort", () => this.end(), { once: true });
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** The first item of every core-service stream: the stream is set up. */
export const READY = { ready: true } as const;

/** Bytes ⇄ base64 for JSON on the wire. */
export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

export function fromBase64(s: string): Uint8Array {
  const b = Buffer.from(s, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
