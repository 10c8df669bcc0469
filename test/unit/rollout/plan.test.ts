// What a run will do, from its inputs alone: engine, targets, strategy, lock, barrier, cancellation.
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { planOf } from '../../../src/rollout/plan';
import { readerFor } from '../../helpers/action-inputs';
import { baseInputs } from '../../helpers/fixtures';

const TWO_HOSTS = { host: 'web1\nweb2', 'host-fingerprint': '', 'insecure-skip-host-key-check': 'true' };

describe('planOf', () => {
  const cases: Array<[string, Record<string, string>, object]> = [
    ['one host, deploy', {}, { engine: { name: 'docker' }, targets: 1, strategy: 'rolling', locks: true, barrierSeconds: 0, cancellable: false }],
    ['one host, all-at-once asked: one host is a rollout of one', { rollout: 'all-at-once' }, { targets: 1, strategy: 'rolling', barrierSeconds: 0 }],
    ['one host, status', { command: 'status' }, { targets: 1, locks: false, barrierSeconds: 0, cancellable: false }],
    ['one host, rollback', { command: 'rollback', image: '' }, { locks: true, barrierSeconds: 0 }],
    ['one host, remove', { command: 'remove', image: '' }, { locks: true }],
    ['one host, logs', { command: 'logs', image: '' }, { locks: false }],
    ['two hosts, rolling deploy', { ...TWO_HOSTS, 'max-parallel': '2' }, { targets: 2, strategy: 'rolling', maxParallel: 2, locks: true, barrierSeconds: 660, cancellable: true }],
    ['two hosts, all at once', { ...TWO_HOSTS, rollout: 'all-at-once', 'health-timeout': '90s' }, { targets: 2, strategy: 'all-at-once', barrierSeconds: 690, cancellable: true }],
    ['two hosts, rollback: no barrier', { ...TWO_HOSTS, command: 'rollback', image: '', rollout: 'all-at-once' }, { targets: 2, strategy: 'rolling', barrierSeconds: 0, cancellable: true }],
    [
      'Swarm of two nodes: the manager is the one target',
      { ...TWO_HOSTS, engine: 'swarm' },
      { engine: { name: 'swarm' }, targets: 1, strategy: 'rolling', barrierSeconds: 0, cancellable: false, locks: true },
    ],
  ];
  it.each(cases)('%s', (_name, given, plan) => {
    expect(planOf(readConfig(readerFor({ ...baseInputs(), ...given })))).toMatchObject(plan);
  });
});
