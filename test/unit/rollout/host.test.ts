// A host's run is the only writer of its report: what each way of ending leaves in it.
import { describe, expect, it } from 'vitest';
import { TransferError } from '../../../src/image/transfer';
import { ResultError } from '../../../src/remote/result';
import { HostRun, hostLog } from '../../../src/rollout/host';
import type { SshConfig } from '../../../src/ssh/session';

const ssh = (host: string, port = 22): SshConfig => ({ host, port, user: 'deploy', privateKey: 'k', hostKey: { kind: 'insecure' }, connectTimeoutSeconds: 1, connectRetries: 0 });
const fresh = (host = 'web1') => new HostRun(ssh(host), { command: 'deploy', app: 'shop', host, image: 'shop:2', phasesSeconds: {}, totalSeconds: 0 });

describe('HostRun', () => {
  it('is named as logs name it', () => {
    expect(new HostRun(ssh('::1', 2200), fresh().report).label).toBe('deploy@[::1]:2200');
  });

  it('not started: a status with its reason, and the error its report shows', () => {
    const run = fresh();
    run.notStarted('web2 could not be reached');
    expect(run.report).toMatchObject({ notStarted: 'web2 could not be reached', error: 'not started: web2 could not be reached' });
    expect(run.hasFailed).toBe(true);
  });

  it.each([
    ['a plain error', new Error('boom'), { error: 'boom' }],
    ['a transfer cut short: the bytes that went', new TransferError('cut', 1234), { error: 'cut', bytesSent: 1234 }],
    ['a lost result: what is live is unknown', new ResultError('no result'), { error: 'no result', resultLost: true }],
  ])('failed with %s', (_name, error, expected) => {
    const run = fresh();
    run.failed(error);
    expect(run.report).toMatchObject(expected);
  });

  it('times a phase into its report, also when the work fails', async () => {
    const run = fresh();
    await expect(run.timed('connect', () => new Promise((_, reject) => setTimeout(() => reject(new Error('no')), 30)))).rejects.toThrow('no');
    expect(run.report.phasesSeconds.connect).toBeGreaterThanOrEqual(0.02);
  });

  it("prefixes a host's lines only when several hosts run", () => {
    const lines: string[] = [];
    const [a, b] = [fresh('web1'), fresh('web2')];
    hostLog((l) => lines.push(l), [a], a)('one');
    hostLog((l) => lines.push(l), [a, b], b)('two');
    expect(lines).toEqual(['one', '[deploy@web2] two']);
  });
});
