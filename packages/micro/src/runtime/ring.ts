/** A fixed-size ring of recent items: what `logs` replays before it follows. */
export class Ring<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("ring capacity must be a positive integer");
    this.#items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** The last `count` items (all by default), oldest first. */
  last(count = this.#size): T[] {
    const n = Math.max(0, Math.min(count, this.#size));
    const out: T[] = [];
    for (let i = n; i > 0; i--) out.push(this.#items[(this.#next - i + this.capacity) % this.capacity] as T);
    return out;
  }

  get size(): number {
    return this.#size;
  }
}
