// The app's rollout lock: the command that holds it (exact text), the one order of hosts, the errors.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSY_LINE, LOCKED_LINE, LOCK_EXIT, lockFailure, lockOrder, remotePath, rolloutLockCommand } from '../../../src/rollout/lock';
import type { SshConfig } from '../../../src/ssh/session';

describe('rolloutLockCommand', () => {
  it('is exactly this POSIX sh', () => {
    expect(rolloutLockCommand('~/.bluegreen', 'shop', 300)).toBe(
      'command -v flock >/dev/null 2>&1 || exit 3; ' +
        'dir="$HOME"/.bluegreen/apps/shop; ' +
        'if [ -d "$dir" ]; then (: >>"$dir/rollout.lock") 2>/dev/null || exit 4; exec 9>>"$dir/rollout.lock"; else exec 9<"${HOME:-/}"; fi; ' +
        'if ! flock -n 9; then echo bluegreen-rollout-busy; flock -w 300 9 || exit 5; fi; echo bluegreen-rollout-locked; exec cat >/dev/null',
    );
  });

  it.each([
    ['~', '"$HOME"'],
    ['~/state dir', `"$HOME"/'state dir'`],
    ['/srv/blue green', `'/srv/blue green'`],
    ['/srv/$(x)', `'/srv/$(x)'`],
  ])('quotes state-dir %s', (path, quoted) => {
    expect(remotePath(path)).toBe(quoted);
  });

  // The command run by a real sh: the second holder waits, says so, and gets the lock when the first ends.
  it('holds the lock while its input is open, and a second one waits for it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bluegreen-lock-'));
    const start = (timeout: number) => spawn('sh', ['-c', rolloutLockCommand('~/state', 'shop', timeout)], { env: { ...process.env, HOME: home } });
    const lines = (child: ReturnType<typeof start>) => {
      const seen: string[] = [];
      child.stdout.on('data', (chunk: Buffer) => seen.push(...chunk.toString().split('\n').filter(Boolean)));
      return seen;
    };
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 100 && !what(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(what()).toBe(true);
    };
    // Before the app's first deploy (no app directory): the home directory is locked, nothing created.
    const first = start(5);
    const firstSaw = lines(first);
    await until(() => firstSaw.includes(LOCKED_LINE));
    const second = start(5);
    const secondSaw = lines(second);
    await until(() => secondSaw.includes(BUSY_LINE));
    expect(secondSaw).not.toContain(LOCKED_LINE);
    first.stdin.end();
    await until(() => secondSaw.includes(LOCKED_LINE));
    const third = start(1);
    const thirdExit = await new Promise<number | null>((resolve) => third.on('close', resolve));
    expect(thirdExit).toBe(LOCK_EXIT.timedOut);
    second.stdin.end();
    expect(execFileSync('ls', ['-A', home]).toString()).toBe('');
    // Once the app has its directory, the lock is a file in it.
    execFileSync('mkdir', ['-p', join(home, 'state/apps/shop')]);
    const fourth = start(5);
    const fourthSaw = lines(fourth);
    await until(() => fourthSaw.includes(LOCKED_LINE));
    const fifth = start(1);
    expect(await new Promise<number | null>((resolve) => fifth.on('close', resolve))).toBe(LOCK_EXIT.timedOut);
    fourth.stdin.end();
    expect(
      execFileSync('ls', [join(home, 'state/apps/shop')])
        .toString()
        .trim(),
    ).toBe('rollout.lock');
  }, 20_000);
});

describe('lockOrder', () => {
  const h = (host: string, port = 22) => ({ ssh: { host, port, user: 'deploy' } as SshConfig, label: `${host}:${port}` });
  it('is the same whatever order the hosts are given in', () => {
    const a = [h('web2'), h('WEB1', 2222), h('web1'), h('10.0.0.7')];
    const b = [h('web1'), h('10.0.0.7'), h('WEB1', 2222), h('web2')];
    const order = ['10.0.0.7:22', 'web1:22', 'WEB1:2222', 'web2:22'];
    expect(lockOrder(a).map((x) => x.label)).toEqual(order);
    expect(lockOrder(b).map((x) => x.label)).toEqual(order);
  });
});

describe('lockFailure', () => {
  it.each([
    [LOCK_EXIT.timedOut, 'another run of shop still held deploy@web1 after 300s (lock-timeout); nothing was changed'],
    [LOCK_EXIT.noFlock, 'flock is not installed on deploy@web1 (package util-linux)'],
    [LOCK_EXIT.cannotOpen, 'cannot open the rollout lock of shop on deploy@web1 (is state-dir writable for the SSH user?)'],
    [null, 'the rollout lock of shop on deploy@web1 was lost (exit none)'],
  ])('exit %s', (code, message) => {
    expect(lockFailure('shop', 'deploy@web1', code, 300)).toBe(message);
  });
});
