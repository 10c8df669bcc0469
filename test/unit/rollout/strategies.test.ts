import { describe, expect, it } from 'vitest';
import { batchesOf } from '../../../src/rollout/strategies';

describe('batchesOf', () => {
  it.each([
    [1, [['a'], ['b'], ['c']]],
    [2, [['a', 'b'], ['c']]],
    [5, [['a', 'b', 'c']]],
  ])('max-parallel %i', (size, expected) => {
    expect(batchesOf(['a', 'b', 'c'], size)).toEqual(expected);
  });
});
