// What a run will do, from its inputs alone: engine, targets, strategy, lock, barrier, cancellation.
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { connectedOf, planOf, targetsOf } from '../../../src/rollout/plan';
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
    ['deploy with release-command: a release phase; the image is sent', { 'release-command': 'migrate' }, { release: true, sendsImage: true, oneTarget: false }],
    ['deploy without one: no release phase', {}, { release: false }],
    [
      'run on two hosts: one target (the first), locked, nothing sent',
      { ...TWO_HOSTS, command: 'run', image: '', 'run-command': 'x' },
      { targets: 1, oneTarget: true, locks: true, sendsImage: false, cancellable: false, barrierSeconds: 0 },
    ],
    ['run in a given image: it is sent', { command: 'run', image: 'shop:v9', 'run-command': 'x' }, { sendsImage: true }],
    ['run with run-lock: false takes no lock', { command: 'run', image: '', 'run-command': 'x', 'run-lock': 'false' }, { locks: false }],
    ['rollback and status send nothing', { command: 'rollback', image: '' }, { sendsImage: false, release: false }],
  ];
  it.each(cases)('%s', (_name, given, plan) => {
    expect(planOf(readConfig(readerFor({ ...baseInputs(), ...given })))).toMatchObject(plan);
  });
});

describe('the hosts a plan reaches', () => {
  const plan = (given: Record<string, string>) => planOf(readConfig(readerFor({ ...baseInputs(), ...TWO_HOSTS, ...given })));
  it.each<[string, Record<string, string>, string[], string[]]>([
    ['deploy: every host', {}, ['web1', 'web2'], ['web1', 'web2']],
    ['run: the first host only', { command: 'run', image: '', 'run-command': 'x' }, ['web1'], ['web1']],
    ['Swarm deploy: the manager runs the script, every node is reached', { engine: 'swarm' }, ['web1', 'web2'], ['web1']],
    ['Swarm run: the manager only', { engine: 'swarm', command: 'run', image: '', 'run-command': 'x' }, ['web1'], ['web1']],
  ])('%s', (_name, given, connected, targets) => {
    const p = plan(given);
    const command = readConfig(readerFor({ ...baseInputs(), ...TWO_HOSTS, ...given })).command;
    expect(connectedOf(p, ['web1', 'web2'], command)).toEqual(connected);
    expect(targetsOf(p, ['web1', 'web2'])).toEqual(targets);
  });
});
