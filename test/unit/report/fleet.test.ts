// Several hosts: the summary's first line and outputs for every way a rollout can end.
import { describe, expect, it } from 'vitest';
import { type HostOutcome, fleetExitCode, fleetHeadline, fleetOutcome, fleetOutputs, renderFleetSummary } from '../../../src/report/fleet';
import type { RemoteResult } from '../../../src/remote/result';
import type { RunReport } from '../../../src/report/report';

function remote(outcome: RemoteResult['outcome'], from: string | null, to: string | null, extra: Partial<RemoteResult> = {}): RemoteResult {
  return {
    outcome,
    activeSlot: to,
    previousSlot: from,
    exitCode: outcome === 'failed' ? 3 : 0,
    error: outcome === 'failed' ? 'the new version failed its health check' : null,
    failedPhase: outcome === 'failed' ? 'health' : null,
    imageId: 'sha256:' + 'a'.repeat(64),
    health: [],
    logTail: '',
    history: [],
    phasesMs: { health: 1500 },
    live: null,
    certificate: null,
    ...extra,
  } as RemoteResult;
}

function host(label: string, r?: RemoteResult, error?: string, switchBack?: RemoteResult): HostOutcome {
  const report: RunReport = {
    command: 'deploy',
    app: 'shop',
    host: label,
    image: 'shop:2',
    remote: r,
    error,
    phasesSeconds: { transfer: 1 },
    totalSeconds: 5,
    transfer: r ? { skipped: false, serverImageId: 'x', bytesSent: 2048, bytesRead: 4096, layersSkipped: 0, layersTotal: 2, resentWhole: false, seconds: 1 } : undefined,
  };
  return { label, report, switchBack: switchBack ? { ...report, command: 'rollback', remote: switchBack, transfer: undefined } : undefined };
}

function notStartedHost(label: string, reason: string): HostOutcome {
  const h = host(label, undefined, `not started: ${reason}`);
  h.report.notStarted = reason;
  return h;
}

describe('the summary of a rollout', () => {
  const cases: Array<[string, HostOutcome[], string, string, number]> = [
    ['all switched', [host('h1', remote('switched', 'blue', 'green')), host('h2', remote('switched', 'blue', 'green'))], 'switched', '✅ shop: switched on 2 hosts', 0],
    ['all already ran it', [host('h1', remote('unchanged', 'green', 'green')), host('h2', remote('unchanged', 'green', 'green'))], 'unchanged', '✅ shop: already ran this version on 2 hosts', 0],
    [
      'the second host failed: the first switched back, the third not started',
      [
        host('h1', remote('switched', 'blue', 'green'), undefined, remote('switched', 'green', 'blue')),
        host('h2', remote('failed', 'blue', 'blue')),
        notStartedHost('h3', 'the rollout stopped when h2 failed'),
      ],
      'failed',
      '❌ shop: deploy failed on h2; switched back: h1; not started: h3',
      3,
    ],
    [
      'a switch back that failed is said in the first line',
      [host('h1', remote('switched', 'blue', 'green'), undefined, remote('failed', 'green', 'green')), host('h2', remote('failed', 'blue', 'blue'))],
      'failed',
      '❌ shop: deploy failed on h2; ⚠️ still on the new version: h1',
      3,
    ],
    [
      'all at once: the second host failed, the first (healthy, waiting) was called off',
      [host('h1', remote('failed', 'blue', 'blue', { exitCode: 6, failedPhase: 'wait', error: 'the rollout was called off' })), host('h2', remote('failed', 'blue', 'blue'))],
      'failed',
      '❌ shop: deploy failed on h2; called off, not switched: h1',
      3,
    ],
    [
      'a host unreachable at the start: nothing started anywhere',
      [notStartedHost('h1', 'h2 could not be reached'), host('h2', undefined, 'cannot connect to h2:22: connection refused')],
      'failed',
      '❌ shop: deploy failed on h2; not started: h1',
      1,
    ],
  ];
  it('a rollback that failed on one host says in its first line where it did roll back', () => {
    const rolledBack = host('h1', remote('switched', 'green', 'blue'));
    rolledBack.report.command = 'rollback';
    const failed = host('h2', remote('failed', 'green', 'green'));
    failed.report.command = 'rollback';
    const untouched = notStartedHost('h3', 'the rollout stopped when h2 failed');
    untouched.report.command = 'rollback';
    expect(fleetHeadline([rolledBack, failed, untouched])).toBe('❌ shop: rollback failed on h2; not started: h3; ⚠️ rolled back only on: h1');
  });

  it.each(cases)('%s', (_name, hosts, outcome, headline, exitCode) => {
    expect(fleetOutcome(hosts)).toBe(outcome);
    expect(fleetHeadline(hosts)).toBe(headline);
    expect(fleetExitCode(hosts)).toBe(exitCode);
    const summary = renderFleetSummary(hosts, [], 9);
    expect(summary.split('\n')[0]).toBe(`## ${headline}`);
    for (const h of hosts) expect(summary).toContain(`| ${h.label} |`);
  });

  it('outputs: result is the overall one, bytes-sent the sum, hosts one object per host', () => {
    const hosts = cases[2][1];
    const out = fleetOutputs(hosts, 9);
    expect(out.result).toBe('failed');
    expect(out['bytes-sent']).toBe(String(2 * 2048));
    expect(JSON.parse(out.hosts)).toEqual([
      { host: 'h1', result: 'switched-back', activeSlot: 'blue', previousSlot: 'blue', bytesSent: 2048, error: null },
      { host: 'h2', result: 'failed', activeSlot: 'blue', previousSlot: 'blue', bytesSent: 2048, error: 'the new version failed its health check' },
      { host: 'h3', result: 'not-started', activeSlot: '', previousSlot: '', bytesSent: 0, error: 'not started: the rollout stopped when h2 failed' },
    ]);
  });

  it('outputs and the folded summary of a first host switched back describe what serves there now', () => {
    const v1 = 'sha256:' + '1'.repeat(64);
    const hosts = [host('h1', remote('switched', 'blue', 'green'), undefined, remote('switched', 'green', 'blue', { imageId: v1 })), host('h2', remote('failed', 'blue', 'blue'))];
    const out = fleetOutputs(hosts, 9);
    expect(out['active-slot']).toBe('blue');
    expect(out['image-id']).toBe(v1);
    const folded = renderFleetSummary(hosts, [], 9).split('<details><summary>h1</summary>')[1].split('</details>')[0];
    expect(folded).toContain('### ✅ shop: switched BLUE → GREEN');
    expect(folded).toContain('### Then, as the rollout did not complete: ✅ shop: rolled back GREEN → BLUE');
  });
});

describe('a cancelled rollout', () => {
  it.each<[string, HostOutcome[], string]>([
    [
      'rolling: the first switched back, the second called off in its health check, the third not started',
      [
        host('h1', remote('switched', 'blue', 'green'), undefined, remote('switched', 'green', 'blue')),
        host('h2', remote('failed', 'blue', 'blue', { exitCode: 6, failedPhase: 'wait', error: 'the rollout was called off' })),
        notStartedHost('h3', 'the run was cancelled (SIGINT)'),
      ],
      '❌ shop: deploy cancelled (SIGINT); called off, not switched: h2; switched back: h1; not started: h3',
    ],
    [
      'before any host started',
      [notStartedHost('h1', 'the run was cancelled (SIGTERM)'), notStartedHost('h2', 'the run was cancelled (SIGTERM)')],
      '❌ shop: deploy cancelled (SIGTERM); not started: h1, h2',
    ],
  ])('%s', (_name, hosts, headline) => {
    const signal = headline.match(/\((SIG[A-Z]+)\)/)![1];
    expect(fleetHeadline(hosts, signal)).toBe(headline);
    expect(fleetOutcome(hosts)).toBe('failed');
    expect(fleetExitCode(hosts)).toBe(1);
    expect(renderFleetSummary(hosts, [], 3, signal).split('\n')[0]).toBe(`## ${headline}`);
  });

  it('a summary written while hosts still run says which are under way and which are switching back', () => {
    const switching = host('h1', remote('switched', 'blue', 'green'));
    switching.switchBack = { ...switching.report, command: 'rollback', remote: undefined, transfer: undefined };
    const hosts = [switching, host('h2'), notStartedHost('h3', 'the run was cancelled (SIGINT)')];
    const summary = renderFleetSummary(hosts, [], 3, 'SIGINT; still under way');
    expect(summary.split('\n')[0]).toBe('## ❌ shop: deploy cancelled (SIGINT; still under way); switching back: h1; under way: h2; not started: h3');
    expect(summary).toContain('| h1 | switched; switching back |');
    expect(summary).toContain('| h2 | under way |');
    expect(JSON.parse(fleetOutputs(hosts, 3).hosts).map((h: { result: string }) => h.result)).toEqual(['switching-back', 'under-way', 'not-started']);
  });
});

describe('command prune on several hosts', () => {
  const pruneHost = (label: string, apps: NonNullable<RunReport['prune']>['apps']): HostOutcome => ({
    label,
    report: { command: 'prune', app: 'shop-pr-*', host: label, image: '', prune: { prefix: 'shop-pr-', apps }, phasesSeconds: {}, totalSeconds: 2 },
  });

  it('says pruned, or nothing to remove, and gives every host’s apps once, sorted', () => {
    const hosts = [
      pruneHost('h1', [
        { app: 'shop-pr-3', action: 'removed', why: 'not in keep' },
        { app: 'shop-pr-2', action: 'kept', why: 'in keep' },
      ]),
      pruneHost('h2', [
        { app: 'shop-pr-1', action: 'removed', why: 'not in keep' },
        { app: 'shop-pr-2', action: 'kept', why: 'in keep' },
      ]),
    ];
    expect(fleetHeadline(hosts)).toBe('🗑️ shop-pr-*: pruned on 2 hosts');
    expect(fleetOutputs(hosts, 3)).toMatchObject({ result: 'removed', pruned: '["shop-pr-1","shop-pr-3"]', kept: '["shop-pr-2"]' });
    const mixed = [hosts[0], pruneHost('h2', [])];
    expect(fleetOutputs(mixed, 3)).toMatchObject({ result: 'removed', pruned: '["shop-pr-3"]' });
    const nothing = [pruneHost('h1', []), pruneHost('h2', [{ app: 'shop-pr-2', action: 'kept', why: 'in keep' }])];
    expect(fleetHeadline(nothing)).toBe('✅ shop-pr-*: nothing to remove on 2 hosts');
    expect(fleetOutputs(nothing, 3)).toMatchObject({ result: 'unchanged', pruned: '[]', kept: '["shop-pr-2"]' });
  });
});
