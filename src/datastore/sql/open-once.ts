/** A connection pool (or any resource) opened on first use, opened again after a failed attempt, closed once. */
export class OpenOnce<T> {
  private readonly open: () => Promise<T>;
  private readonly shut: (value: T) => Promise<void>;
  private value: Promise<T> | undefined;

  constructor(open: () => Promise<T>, shut: (value: T) => Promise<void>) {
    this.open = open;
    this.shut = shut;
  }

  get(): Promise<T> {
    // A failed opening is not kept: the next call (the next reconcile) tries again.
    this.value ??= this.open().catch((error: unknown) => {
      this.value = undefined;
      throw error;
    });
    return this.value;
  }

  close(): void {
    const value = this.value;
    this.value = undefined;
    void value?.then(this.shut).catch(() => undefined);
  }
}
