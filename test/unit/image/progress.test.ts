import { describe, expect, it } from 'vitest';
import { ProgressThrottle, progressLine, summaryLine } from '../../../src/image/progress';

describe('progress', () => {
  const MiB = 1024 * 1024;
  it('describes a transfer under way', () => {
    expect(progressLine({ totalBytes: 100 * MiB, readBytes: 40 * MiB, sentBytes: 10 * MiB, elapsedSeconds: 4 })).toBe(
      '40% · 40.0 MiB of 100.0 MiB read · 10.0 MiB sent (ratio 0.25) · 10.0 MiB/s · ETA 6.0s',
    );
    expect(summaryLine({ totalBytes: 100 * MiB, readBytes: 100 * MiB, sentBytes: 50 * MiB, elapsedSeconds: 10 })).toBe('sent 50.0 MiB for 100.0 MiB of image (ratio 0.50) in 10s, 10.0 MiB/s');
  });
  it('never claims 100% before the end, even when the tar is larger than the image', () => {
    expect(progressLine({ totalBytes: 10, readBytes: 12, sentBytes: 5, elapsedSeconds: 1 })).toMatch(/^99% /);
    // Past the estimate: never "175.1 MiB of 168.3 MiB", and no ETA it cannot know.
    expect(progressLine({ totalBytes: 168.3 * MiB, readBytes: 175.1 * MiB, sentBytes: 170 * MiB, elapsedSeconds: 10 })).toBe(
      '99% · 175.1 MiB read (more than the 168.3 MiB estimated) · 170.0 MiB sent (ratio 0.97) · 17.5 MiB/s · ETA ?',
    );
  });
  it('reports every 10% and at least every 5 seconds', () => {
    const throttle = new ProgressThrottle(5, 10);
    const at = (read: number, seconds: number) => throttle.shouldReport({ totalBytes: 100, readBytes: read, sentBytes: 0, elapsedSeconds: seconds });
    expect([at(1, 0.5), at(5, 1), at(10, 1.5), at(15, 2), at(16, 7), at(17, 8), at(35, 8.5), at(36, 9)]).toEqual([false, false, true, false, true, false, true, false]);
  });
});
