/**
 * Many deadlines, one timer: items are checked every `every` ms while any is pending, so a
 * call costs a Set insertion instead of a timer of its own.
 */
export interface ExpiryItem {
  readonly deadline: number;
  readonly fire: () => void;
}

export class Expiry {
  private readonly items = new Set<ExpiryItem>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly every = 10) {}

  add(deadline: number, fire: () => void): ExpiryItem {
    const item = { deadline, fire };
    this.items.add(item);
    if (!this.timer) {
      this.timer = setInterval(this.sweep, this.every);
      this.timer.unref();
    }
    return item;
  }

  remove(item: ExpiryItem): void {
    this.items.delete(item);
    if (this.items.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    for (const item of this.items) {
      if (item.deadline <= now) {
        this.remove(item);
        item.fire();
      }
    }
  };
}
