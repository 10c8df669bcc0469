import { describe, expect, it } from 'vitest';
import { type ServerApp, decidePrune, listAppsCommand, parseServerApps } from '../../../src/prune/apps';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('parseServerApps', () => {
  it('joins the containers and the state of each app under the prefix, and nothing else', () => {
    const output = [
      'container\tshop-pr-1\t2026-12-01 10:00:00 +0000 UTC',
      'container\tshop-pr-1\t2026-12-02 10:00:00 +0100 CET',
      'container\tshop\t2026-12-01 10:00:00 +0000 UTC',
      'container\tshop-pr-2\tgarbage',
      'state\tshop-pr-1\t1\t1\t2026-12-03T08:00:00Z',
      'state\tshop-pr-3\t0\t0\t2026-11-01T08:00:00Z',
      'state\tshop-pr-4\t0\t1\t',
      'state\tshop-pr-5\t1\t0\t',
      'state\tSHOP-PR-6\t1\t1\t',
      'state\tother-pr-1\t1\t1\t2026-12-03T08:00:00Z',
      'state\tshop-pr-7\t1',
      '',
    ].join('\n');
    expect(parseServerApps(output, 'shop-pr-')).toEqual([
      { name: 'shop-pr-1', lastDeployMs: Date.parse('2026-12-03T08:00:00Z'), present: true },
      { name: 'shop-pr-2', lastDeployMs: undefined, present: true },
      { name: 'shop-pr-3', lastDeployMs: Date.parse('2026-11-01T08:00:00Z'), present: false },
      { name: 'shop-pr-4', lastDeployMs: undefined, present: true },
      { name: 'shop-pr-5', lastDeployMs: undefined, present: true },
    ]);
  });

  it('takes the newest container as the last deploy when the app has no history', () => {
    const output = 'container\tshop-pr-1\t2026-12-01 10:00:00 +0000 UTC\ncontainer\tshop-pr-1\t2026-12-02 10:00:00 +0100 CET\n';
    expect(parseServerApps(output, 'shop-pr-')).toEqual([{ name: 'shop-pr-1', lastDeployMs: Date.parse('2026-12-02T09:00:00Z'), present: true }]);
  });
});

describe('decidePrune', () => {
  const apps: ServerApp[] = [
    { name: 'shop-pr-1', lastDeployMs: NOW - 1 * DAY, present: true },
    { name: 'shop-pr-2', lastDeployMs: NOW - 10 * DAY, present: true },
    { name: 'shop-pr-3', lastDeployMs: undefined, present: true },
    { name: 'shop-pr-4', lastDeployMs: NOW - 30 * DAY, present: false },
    { name: 'shop', lastDeployMs: NOW - 30 * DAY, present: true },
  ];
  const removed = (keep: string[], afterSeconds?: number) =>
    decidePrune(apps, { prefix: 'shop-pr-', keep, afterSeconds }, NOW)
      .filter((d) => d.action === 'remove')
      .map((d) => d.app);

  it.each([
    { rule: 'keep names one: the others go', keep: ['shop-pr-1'], after: undefined, gone: ['shop-pr-2', 'shop-pr-3'] },
    { rule: 'keep names all: none goes', keep: ['shop-pr-1', 'shop-pr-2', 'shop-pr-3'], after: undefined, gone: [] },
    { rule: 'keep names an app outside the prefix: it is not a reason to touch it', keep: ['shop'], after: undefined, gone: ['shop-pr-1', 'shop-pr-2', 'shop-pr-3'] },
    { rule: 'prune-after alone: only the old ones (unknown age stays)', keep: [], after: 7 * 86_400, gone: ['shop-pr-2'] },
    { rule: 'keep and prune-after: not kept, or old even if kept', keep: ['shop-pr-2', 'shop-pr-3'], after: 7 * 86_400, gone: ['shop-pr-1', 'shop-pr-2'] },
    { rule: 'neither: every app under the prefix', keep: [], after: undefined, gone: ['shop-pr-1', 'shop-pr-2', 'shop-pr-3'] },
  ])('$rule', ({ keep, after, gone }) => {
    expect(removed(keep, after)).toEqual(gone);
  });

  it('never decides about an app outside the prefix or one already removed, and says why for each', () => {
    const decisions = decidePrune(apps, { prefix: 'shop-pr-', keep: ['shop-pr-1'], afterSeconds: 7 * 86_400 }, NOW);
    expect(decisions).toEqual([
      { app: 'shop-pr-1', action: 'keep', why: 'in keep', lastDeployMs: NOW - DAY },
      { app: 'shop-pr-2', action: 'remove', why: 'last deployed 10d 0h ago, more than prune-after (7d 0h)', lastDeployMs: NOW - 10 * DAY },
      { app: 'shop-pr-3', action: 'remove', why: 'not in keep', lastDeployMs: undefined },
    ]);
  });
});

describe('listAppsCommand', () => {
  it('quotes the state dir and the prefix, and reads only', () => {
    const command = listAppsCommand("~/state's", 'shop-pr-');
    expect(command).toContain(`dir="$HOME"/'state'\\''s'`);
    expect(command).toMatch(/\np='?shop-pr-'?\n/);
    expect(command).not.toMatch(/\b(rm|mv|mkdir|touch)\b|>\s*"?\$/);
  });
});
