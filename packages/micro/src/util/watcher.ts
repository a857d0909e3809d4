/** A push-based async queue: producers `push`, consumers iterate; `end()` finishes it. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiters: ((r: IteratorResult<T>) => void)[] = [];
  private done = false;
  private failure: unknown;

  constructor(private readonly onEnd?: () => void) {}

  push(v: T): void {
    if (this.done) return;
    const w = this.waiters.shift();
    if (w) w({ value: v, done: false });
    else this.items.push(v);
  }

  /** Ends the stream; pending and future reads see done (or the error, if given). */
  end(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (err !== undefined) this.rejectWaiter(w, err);
      else w({ value: undefined, done: true });
    }
    this.onEnd?.();
  }

  private rejectWaiter(w: (r: IteratorResult<T>) => void, err: unknown): void {
    // A waiter is a resolve function; rejecting goes through a thrown promise in next().
    (w as unknown as { reject?: (e: unknown) => void }).reject?.(err);
  }

  get ended(): boolean {
    return this.done;
  }

  get size(): number {
    return this.items.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.done) {
      if (this.failure !== undefined) return Promise.reject(this.failure);
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      const w = resolve as ((r: IteratorResult<T>) => void) & { reject?: (e: unknown) => void };
      w.reject = reject;
      this.waiters.push(w);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
