import { describe, expect, it } from 'vitest';
import { formatSeconds, parseDuration } from '../../../src/inputs/duration';

describe('parseDuration', () => {
  it.each([
    ['90', 90],
    ['1.5', 1.5],
    ['90s', 90],
    ['2m', 120],
    ['1m30s', 90],
    ['500ms', 0.5],
    ['1h', 3600],
    [' 10S ', 10],
  ])('%s is %d seconds', (text, seconds) => expect(parseDuration(text)).toBe(seconds));
  it.each(['', 'soon', '-1', '1 m', 'm', '1d', '1.2.3'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
  it('formats seconds for people', () => {
    expect([formatSeconds(0.25), formatSeconds(12.4), formatSeconds(75), formatSeconds(3725)]).toEqual(['0.3s', '12s', '1m 15s', '1h 2m']);
  });
});
