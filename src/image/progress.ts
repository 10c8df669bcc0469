import { formatBytes, formatSeconds } from '../format';

export interface TransferFigures {
  totalBytes: number; // expected uncompressed bytes (the image's size)
  readBytes: number; // uncompressed bytes read from docker save
  sentBytes: number; // compressed bytes written to the server
  elapsedSeconds: number;
}

const MiB = 1024 * 1024;

/** One human line about a transfer under way: share done, bytes, compression, rate, time left. */
export function progressLine(f: TransferFigures): string {
  const fraction = f.totalBytes > 0 ? Math.min(f.readBytes / f.totalBytes, 0.99) : 0;
  const rate = f.elapsedSeconds > 0 ? f.readBytes / f.elapsedSeconds : 0;
  const ratio = f.readBytes > 0 ? f.sentBytes / f.readBytes : 1;
  // The total is an estimate (the image's size as the runner's store reports it): once more than it
  // was read, the line says so instead of claiming "175 MiB of 168 MiB".
  const past = f.totalBytes > 0 && f.readBytes > f.totalBytes;
  const eta = rate > 0 && !past ? Math.max(f.totalBytes - f.readBytes, 0) / rate : undefined;
  return [
    `${Math.floor(fraction * 100)}%`,
    past ? `${formatBytes(f.readBytes)} read (more than the ${formatBytes(f.totalBytes)} estimated)` : `${formatBytes(f.readBytes)} of ${formatBytes(f.totalBytes)} read`,
    `${formatBytes(f.sentBytes)} sent (ratio ${ratio.toFixed(2)})`,
    `${(rate / MiB).toFixed(1)} MiB/s`,
    `ETA ${eta === undefined ? '?' : formatSeconds(eta)}`,
  ].join(' · ');
}

/** The closing line of a transfer. */
export function summaryLine(f: TransferFigures): string {
  const ratio = f.readBytes > 0 ? f.sentBytes / f.readBytes : 1;
  const rate = f.elapsedSeconds > 0 ? f.readBytes / f.elapsedSeconds / MiB : 0;
  return `sent ${formatBytes(f.sentBytes)} for ${formatBytes(f.readBytes)} of image (ratio ${ratio.toFixed(2)}) in ${formatSeconds(f.elapsedSeconds)}, ${rate.toFixed(1)} MiB/s`;
}

/**
 * Decides when to print: at least every `everySeconds`, and each time another `stepPercent` of the
 * image has been read. Pure: it is told the time, it does not read a clock.
 */
export class ProgressThrottle {
  private lastAt = 0;
  private lastStep = 0;

  constructor(
    private readonly everySeconds = 5,
    private readonly stepPercent = 10,
  ) {}

  shouldReport(f: TransferFigures): boolean {
    const percent = f.totalBytes > 0 ? (f.readBytes / f.totalBytes) * 100 : 0;
    const step = Math.floor(Math.min(percent, 100) / this.stepPercent);
    if (step > this.lastStep || f.elapsedSeconds - this.lastAt >= this.everySeconds) {
      this.lastStep = Math.max(step, this.lastStep);
      this.lastAt = f.elapsedSeconds;
      return true;
    }
    return false;
  }
}
