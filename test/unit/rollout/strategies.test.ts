import { describe, expect, it } from 'vitest';
import { batchesOf, inputForHost, rollingBatches } from '../../../src/rollout/strategies';
import type { ScriptInput } from '../../../src/remote/script';
import { readConfig } from '../../../src/inputs/config';
import { readerFor } from '../../helpers/action-inputs';
import { baseInputs } from '../../helpers/fixtures';

describe('batchesOf', () => {
  it.each([
    [1, [['a'], ['b'], ['c']]],
    [2, [['a', 'b'], ['c']]],
    [5, [['a', 'b', 'c']]],
  ])('max-parallel %i', (size, expected) => {
    expect(batchesOf(['a', 'b', 'c'], size)).toEqual(expected);
  });
});

describe('rollout: canary on several hosts (issue 25)', () => {
  it.each([
    [
      2,
      false,
      [
        ['a', 'b'],
        ['c', 'd'],
      ],
    ],
    [2, true, [['a'], ['b', 'c'], ['d']]],
    [5, true, [['a'], ['b', 'c', 'd']]],
  ])('max-parallel %i, canary %s: the first host alone first', (size, canary, expected) => {
    expect(rollingBatches(['a', 'b', 'c', 'd'], size, canary)).toEqual(expected);
  });

  it('keeps a single host a batch of one', () => {
    expect(rollingBatches(['a'], 3, true)).toEqual([['a']]);
  });

  it('gives the canary to the first host only', () => {
    const config = readConfig(readerFor({ ...baseInputs(), rollout: 'canary' }));
    const input = { command: 'deploy', deploy: config.deploy, canary: config.canary } as ScriptInput;
    expect(inputForHost(input, true).canary).toEqual(config.canary);
    expect(inputForHost(input, false).canary).toBeUndefined();
    expect(inputForHost(input, false).deploy).toBe(input.deploy);
  });
});
