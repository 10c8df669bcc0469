import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { canaryMatchVariable } from '../../../src/remote/script';
import { readerFor } from '../../helpers/action-inputs';
import { inputErrorOf } from '../../helpers/input-error';
import { baseInputs } from '../../helpers/fixtures';

const read = (given: Record<string, string>) => readConfig(readerFor({ ...baseInputs(), ...given }));
const errorOf = (given: Record<string, string>) => inputErrorOf(() => read(given));

describe('rollout: canary and bake-seconds: the inputs (issue 25)', () => {
  it('has defaults a user can start with: 10% for 60 s, 1% failed at most, p95 at most 2x, 20 requests, revert on low traffic', () => {
    expect(read({ rollout: 'canary' }).canary).toEqual({ percent: 10, seconds: 60, onLowTraffic: 'revert', match: undefined, maxErrorPercent: 1, maxLatency: { ratio: 2 }, minRequests: 20 });
    expect(read({}).canary).toBeUndefined();
    expect(read({}).bake).toBeUndefined();
    expect(read({ 'bake-seconds': '5m' }).bake).toEqual({ seconds: 300, maxErrorPercent: 1, maxLatency: { ratio: 2 }, minRequests: 20 });
  });

  it.each([
    [
      { 'canary-percent': '25%', 'canary-seconds': '2m' },
      { percent: 25, seconds: 120 },
    ],
    [{ 'canary-percent': '0.5' }, { percent: 0.5 }],
    [{ 'canary-max-error-rate': '2.5%' }, { maxErrorPercent: 2.5 }],
    [{ 'canary-max-error-rate': '0' }, { maxErrorPercent: 0 }],
    [{ 'canary-max-latency': '1.5x' }, { maxLatency: { ratio: 1.5 } }],
    [{ 'canary-max-latency': '800ms' }, { maxLatency: { ms: 800 } }],
    [{ 'canary-max-latency': '2s' }, { maxLatency: { ms: 2000 } }],
    [
      { 'canary-min-requests': '100', 'canary-on-low-traffic': 'promote' },
      { minRequests: 100, onLowTraffic: 'promote' },
    ],
    [{ 'canary-header': 'X-Canary' }, { match: { kind: 'header', name: 'X-Canary', value: '' } }],
    [{ 'canary-header': 'X-Canary: yes' }, { match: { kind: 'header', name: 'X-Canary', value: 'yes' } }],
    [{ 'canary-header': 'cookie: beta' }, { match: { kind: 'cookie', name: 'beta', value: '' } }],
    [{ 'canary-header': 'Cookie:beta_user=1' }, { match: { kind: 'cookie', name: 'beta_user', value: '1' } }],
  ])('reads %o', (given, expected) => {
    expect(read({ rollout: 'canary', ...given }).canary).toMatchObject(expected);
  });

  it.each([
    [{ 'canary-percent': '0' }, 'canary-percent', 'from 0.01 to 99'],
    [{ 'canary-percent': '100' }, 'canary-percent', 'from 0.01 to 99'],
    [{ 'canary-percent': '1.234' }, 'canary-percent', 'two decimals at most'],
    [{ 'canary-percent': 'ten' }, 'canary-percent', 'percentage'],
    [{ 'canary-seconds': '0' }, 'canary-seconds', 'at least 1s'],
    [{ 'canary-max-error-rate': '101' }, 'canary-max-error-rate', 'from 0 to 100'],
    [{ 'canary-max-latency': 'fast' }, 'canary-max-latency', "how much slower the new slot's p95 may be"],
    [{ 'canary-max-latency': '0.5x' }, 'canary-max-latency', 'got'],
    [{ 'canary-min-requests': '0' }, 'canary-min-requests', 'from 1 to'],
    [{ 'canary-on-low-traffic': 'maybe' }, 'canary-on-low-traffic', 'revert, promote'],
    [{ 'canary-header': 'X Canary' }, 'canary-header', 'header name'],
    [{ 'canary-header': 'X-Canary: a b' }, 'canary-header', 'value'],
    [{ 'canary-header': 'cookie: be-ta' }, 'canary-header', 'cookie name'],
    [{ 'canary-header': 'cookie: beta=$x' }, 'canary-header', 'value'],
    [{ web: 'false', workers: 'jobs: bin/jobs' }, 'rollout', 'web: false'],
  ])('refuses %o, naming %s', (given, input, text) => {
    const error = errorOf({ rollout: 'canary', ...given });
    expect(error.input).toBe(input);
    expect(error.message).toContain(text);
  });

  it('refuses bake-seconds without a web process, and rollout: canary with engine swarm', () => {
    expect(errorOf({ 'bake-seconds': '1m', web: 'false', workers: 'jobs: bin/jobs' }).input).toBe('bake-seconds');
    expect(errorOf({ rollout: 'canary', engine: 'swarm' }).input).toBe('rollout');
  });

  it('other commands ignore them (a rollback re-run from a canary workflow works)', () => {
    expect(read({ command: 'rollback', rollout: 'canary', 'bake-seconds': '1m' })).toMatchObject({ canary: undefined, bake: undefined });
  });

  it.each([
    ['X-Canary', 'http_x_canary'],
    ['x-beta-user: 1', 'http_x_beta_user'],
    ['cookie: beta', 'cookie_beta'],
  ])('canary-header %s is nginx variable $%s', (header, variable) => {
    expect(canaryMatchVariable(read({ rollout: 'canary', 'canary-header': header }).canary)).toBe(variable);
  });
});
