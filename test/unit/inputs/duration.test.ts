import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/inputs/duration';

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
    ['7d', 604_800],
    ['1d12h', 129_600],
  ])('%s is %d seconds', (text, seconds) => expect(parseDuration(text)).toBe(seconds));
  it.each(['', 'soon', '-1', '1 m', 'm', '1w', '1.2.3'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
});
