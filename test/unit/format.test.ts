import { describe, expect, it } from 'vitest';
import { formatBytes, formatSeconds, shortId } from '../../src/format';

describe('shortId', () => {
  it.each<[string | undefined | null, string]>([
    ['sha256:171b9e97d05909d41147720a7cf63e48602f43110e95fc5cd269c6004f0b35df', '171b9e97d059'],
    ['171b9e97d05909d41147720a7cf63e48602f43110e95fc5cd269c6004f0b35df', '171b9e97d059'],
    ['', ''],
    [undefined, ''],
    [null, ''],
  ])('%s', (id, short) => expect(shortId(id)).toBe(short));
});

describe('formatSeconds and formatBytes', () => {
  it('formats seconds for people', () => {
    expect([formatSeconds(0.25), formatSeconds(12.4), formatSeconds(75), formatSeconds(3725)]).toEqual(['0.3s', '12s', '1m 15s', '1h 2m']);
  });
  it('formats bytes for people', () => {
    expect([formatBytes(10), formatBytes(2048), formatBytes(3 * 1024 * 1024 * 1024)]).toEqual(['10 B', '2.0 KiB', '3.00 GiB']);
  });
});
