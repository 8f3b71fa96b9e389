// Restart policy for a crashing agent: back off, and give up after a few tries a minute.

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(
    private readonly maxPerWindow = 4,
    private readonly windowMs = 60_000,
    private readonly baseDelayMs = 1_000,
  ) {}

  /**
   * onCrash records a crash at now and returns how long to wait before restarting,
   * or undefined when the agent crashed too often in the window (stop restarting).
   */
  onCrash(now: number): number | undefined {
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    if (this.crashes.length > this.maxPerWindow) {
      return undefined;
    }
    return this.baseDelayMs * 2 ** (this.crashes.length - 1);
  }

  /** reset forgets crashes, after a manual restart. */
  reset(): void {
    this.crashes = [];
  }
}
