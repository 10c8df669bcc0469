// The one ending of every run: one host gets its own summary and line, several hosts the fleet's.
import { describe, expect, it } from 'vitest';
import type { RemoteResult } from '../../../src/remote/result';
import type { HostOutcome } from '../../../src/report/fleet';
import type { RunReport } from '../../../src/report/report';
import { runExitCode, runSummary, runVerdict } from '../../../src/report/run';

function host(label: string, remote?: Partial<RemoteResult>, error?: string): HostOutcome {
  const report: RunReport = { command: 'deploy', app: 'shop', host: label.split('@')[1], image: 'shop:2', url: 'http://shop.example.com/', phasesSeconds: {}, totalSeconds: 4, error };
  if (remote)
    report.remote = {
      outcome: 'switched',
      activeSlot: 'green',
      previousSlot: 'blue',
      exitCode: 0,
      error: null,
      failedPhase: null,
      imageId: 'sha256:' + 'a'.repeat(64),
      health: [],
      logTail: '',
      history: [],
      phasesMs: {},
      live: null,
      certificate: null,
      ...remote,
    } as RemoteResult;
  return { label, report };
}

const ok = host('deploy@web1', {});
const unhealthy = host('deploy@web1', { outcome: 'failed', exitCode: 3, activeSlot: 'blue', error: 'the new version failed its health check', failedPhase: 'health' });
const unreachable = host('deploy@web1', undefined, 'connect ECONNREFUSED 127.0.0.1:22');

describe('the ending of a run', () => {
  const cases: Array<[string, HostOutcome[], number, string]> = [
    ['one host switched', [ok], 0, 'shop: switched; live slot green; http://shop.example.com/'],
    ['one host unhealthy: exit code 3, the old slot still live', [unhealthy], 3, 'shop on web1: the new version failed its health check (BLUE is still live)'],
    ['one host not reached', [unreachable], 1, 'shop on web1: connect ECONNREFUSED 127.0.0.1:22'],
    ['two hosts switched', [ok, host('deploy@web2', {})], 0, '✅ shop: switched on 2 hosts'],
    ['two hosts, one failed', [ok, { ...unreachable, label: 'deploy@web2' }], 1, 'shop: deploy failed on deploy@web2'],
  ];
  it.each(cases)('%s', (_name, hosts, exitCode, verdict) => {
    expect(runExitCode(hosts)).toBe(exitCode);
    expect(runVerdict(hosts, 'shop')).toContain(verdict);
  });

  it('one host: its own summary; several: a row each', () => {
    expect(runSummary([ok], [], 4)).not.toContain('| host | result |');
    expect(runSummary([ok, host('deploy@web2', {})], [], 4)).toContain('| host | result |');
  });

  it('a cancelled run of several hosts says so in its last line', () => {
    expect(runVerdict([ok, { ...unreachable, label: 'deploy@web2' }], 'shop', 'SIGINT')).toMatch(/^shop: deploy cancelled \(SIGINT\)/);
  });
});
