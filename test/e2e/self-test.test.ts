// .github/workflows/self-test.yml, run here step by step as the GitHub runner would run it: the
// action through `uses: ./` (deploy, deploy, a failing deploy with continue-on-error, rollback,
// status, remove), each checked by the workflow's own next step. It also proves the steps can fail.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resetServer, testServer } from '../helpers/server';
import { evaluate, runWorkflowJob } from '../helpers/workflow-runner';

const root = join(__dirname, '../..');
const workflow = join(root, '.github/workflows/self-test.yml');
let env: Record<string, string>;

beforeAll(() => {
  resetServer(testServer('classic'));
  // This machine runs the suite as root and has no sudo; on GitHub's runner the real one is used.
  const bin = mkdtempSync(join(tmpdir(), 'bluegreen-sudo-'));
  writeFileSync(join(bin, 'sudo'), '#!/bin/sh\n[ "$(id -u)" = 0 ] || { echo "sudo stand-in: not root" >&2; exit 1; }\nexec "$@"\n');
  chmodSync(join(bin, 'sudo'), 0o755);
  env = { PATH: `${bin}:${process.env.PATH}` };
});

describe('the self-test workflow (uses: ./), run locally', () => {
  it('passes every step: deploy v1, v2, a failing v3 (continue-on-error), rollback, status, remove', async () => {
    const job = await runWorkflowJob(workflow, 'self-test', env, root);
    const failed = job.failed ? `${job.failed.name}:\n${job.failed.log.slice(-3000)}` : '';
    expect(failed).toBe('');
    const ran = job.steps.filter((s) => !s.skipped);
    expect(ran.map((s) => s.id ?? '-')).toEqual(['server', 'v1', 'check-v1', 'v2', '-', 'v3', '-', 'rollback', '-', 'status', '-', 'remove', '-']);
    expect(job.steps.filter((s) => s.skipped).map((s) => s.name)).toEqual([expect.stringMatching(/^actions\/checkout@/), expect.stringMatching(/^actions\/setup-node@/)]);
    const v3 = job.steps.find((s) => s.id === 'v3')!;
    expect([v3.outcome, v3.conclusion]).toEqual(['failure', 'success']);
    expect(v3.log).toContain('::error::');
  }, 300_000);

  it('stops at a check that fails: a job whose expectation is wrong fails on that step', async () => {
    const wrong = join(mkdtempSync(join(tmpdir(), 'bluegreen-wf-')), 'self-test.yml');
    // The same file with one expectation changed: v1 must be on GREEN (it is on BLUE).
    writeFileSync(wrong, readFileSync(workflow, 'utf8').replace('test "$SLOT" = blue\n', 'test "$SLOT" = green\n'));
    resetServer(testServer('classic'));
    const job = await runWorkflowJob(wrong, 'self-test', env, root);
    expect(job.failed?.name).toBe('v1 is live and serves');
    expect(job.steps.at(-1)!.name).toBe('v1 is live and serves'); // nothing after it ran
    resetServer(testServer('classic'));
  }, 120_000);
});

describe('workflow expressions', () => {
  const context = { steps: { a: { outputs: { 'ssh-key': 'K', n: '1' }, outcome: 'failure', conclusion: 'success' } }, env: { X: 'x' } };
  it.each([
    ['${{ steps.a.outputs.ssh-key }}', 'K'],
    ['v${{steps.a.outputs.n}}-${{ env.X }}', 'v1-x'],
    ['${{ steps.a.outcome }}/${{ steps.a.conclusion }}', 'failure/success'],
    ['${{ steps.missing.outputs.n }}', ''],
  ])('%s is %s', (text, value) => {
    expect(evaluate(text, context)).toBe(value);
  });
  it.each(['${{ github.sha }}', "${{ steps.a.outcome == 'failure' }}", '${{ toJSON(steps) }}'])('refuses %s rather than guess', (text) => {
    expect(() => evaluate(text, context)).toThrow(/workflow runner: /);
  });
});
