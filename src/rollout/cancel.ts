/**
 * A run's cancellation: GitHub cancels a job with SIGINT, then SIGTERM 7.5 s later and SIGKILL 2.5 s
 * after that. The first signal is recorded here; the work in progress looks at it and stops starting.
 */
export class Cancellation {
  private why: string | undefined;
  private readonly listeners: Array<(reason: string) => void> = [];

  /** Why the run was cancelled (e.g. 'SIGINT'), or undefined while it goes on. */
  get reason(): string | undefined {
    return this.why;
  }

  cancel(reason: string): void {
    if (this.why !== undefined) return;
    this.why = reason;
    for (const listener of this.listeners.splice(0)) listener(reason);
  }

  /** Calls `listener` once, when the run is cancelled (at once if it already is). */
  onCancel(listener: (reason: string) => void): void {
    if (this.why !== undefined) listener(this.why);
    else this.listeners.push(listener);
  }
}

/** Turns SIGINT and SIGTERM into `cancellation` while `work` runs (instead of ending the process). */
export async function cancellableBy<T>(cancellation: Cancellation, work: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals) => cancellation.cancel(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work();
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
