// scripts/release.sh, the release workflow's logic, run in a throwaway repository with an origin:
// it moves the major tag to each new version, and refuses what must not be released.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
let repo: string;
let origin: string;

function sh(cwd: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(args[0], args.slice(1), { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}
const git = (...args: string[]) => {
  const r = sh(repo, 'git', ...args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.out}`);
  return r.out.trim();
};
const release = (tag: string) => sh(repo, 'bash', 'scripts/release.sh', tag, 'origin');
const tagCommit = (dir: string, tag: string) => sh(dir, 'git', 'rev-parse', '--verify', '--quiet', `refs/tags/${tag}^{commit}`).out.trim();

/** Commits a version: its source, package.json's version, a changelog section; built unless `stale`. */
function commitVersion(version: string, { stale = false, changelog = true } = {}): string {
  writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'x', version, private: true, scripts: { build: "node -e \"require('fs').copyFileSync('src/app.txt','dist/app.txt')\"" } }));
  writeFileSync(join(repo, 'src/app.txt'), `app ${version}\n`);
  if (!stale) sh(repo, 'npm', 'run', 'build', '--silent');
  if (changelog) sh(repo, 'sh', '-c', `printf '\\n## [${version}] - 2026-11-22\\n### Added\\n- ${version}\\n' >> CHANGELOG.md`);
  git('add', '-A');
  git('commit', '-qm', version);
  git('tag', `v${version}`);
  return git('rev-parse', 'HEAD');
}

beforeAll(() => {
  const base = mkdtempSync(join(tmpdir(), 'release-'));
  origin = join(base, 'origin.git');
  repo = join(base, 'repo');
  sh(base, 'git', 'init', '-q', '--bare', origin);
  sh(base, 'git', 'init', '-q', '-b', 'main', repo);
  mkdirSync(join(repo, 'scripts'));
  mkdirSync(join(repo, 'src'));
  mkdirSync(join(repo, 'dist'));
  for (const script of ['release.sh', 'check-dist.sh']) copyFileSync(join(root, 'scripts', script), join(repo, 'scripts', script));
  writeFileSync(join(repo, 'CHANGELOG.md'), '# Changelog\n');
  git('remote', 'add', 'origin', origin);
});

describe('scripts/release.sh', () => {
  it('moves v1 to v1.0.0, then to v1.1.0, here and on the remote', () => {
    const first = commitVersion('1.0.0');
    const r1 = release('v1.0.0');
    expect(r1.out).toContain('v1.0.0 released; v1 moved to');
    expect(r1.code).toBe(0);
    expect(tagCommit(repo, 'v1')).toBe(first);
    expect(tagCommit(origin, 'v1')).toBe(first);

    const second = commitVersion('1.1.0');
    const r2 = release('v1.1.0');
    expect(r2.out).toContain(`v1 moved from ${first.slice(0, 12)} to ${second.slice(0, 12)} (pushed to origin)`);
    expect(r2.code).toBe(0);
    expect(tagCommit(repo, 'v1')).toBe(second);
    expect(tagCommit(origin, 'v1')).toBe(second);
  });

  it.each([
    ['a stale dist/', () => commitVersion('1.2.0', { stale: true }), 'v1.2.0', /dist\/ at v1.2.0 is not what its sources build/],
    ['a version with no CHANGELOG section', () => commitVersion('1.3.0', { changelog: false }), 'v1.3.0', /CHANGELOG.md has no section '## \[1.3.0\]'/],
    ['a tag that is not vX.Y.Z', () => git('tag', 'v1.4'), 'v1.4', /'v1.4' is not a version tag/],
    ['a pre-release', () => git('tag', 'v1.4.0-rc.1'), 'v1.4.0-rc.1', /pre-releases never move a major tag/],
    ['a tag that does not exist', () => undefined, 'v9.9.9', /there is no tag v9.9.9/],
    ['a checkout that is not the tag', () => undefined, 'v1.0.0', /the checkout is not v1.0.0's commit/],
  ])('refuses %s, leaving v1 where it was', (_what, arrange, tag, message) => {
    const before = tagCommit(repo, 'v1');
    const remoteBefore = tagCommit(origin, 'v1');
    arrange();
    const r = release(tag);
    expect(r.out).toMatch(message);
    expect(r.out).toMatch(/^release refused: /m);
    expect(r.code).toBe(1);
    expect(tagCommit(repo, 'v1')).toBe(before);
    expect(tagCommit(origin, 'v1')).toBe(remoteBefore);
  });

  it('releases a backport (v1.0.1 after v1.1.0) without moving v1 back', () => {
    const v1 = tagCommit(repo, 'v1');
    git('checkout', '-q', '-b', 'release-1.0', 'v1.0.0');
    commitVersion('1.0.1');
    const r = release('v1.0.1');
    expect(r.out).toContain('v1.0.1 released; v1 stays on the newer');
    expect(r.code).toBe(0);
    expect(tagCommit(repo, 'v1')).toBe(v1);
    expect(tagCommit(origin, 'v1')).toBe(v1);
  });

  it('puts v1 back when the push fails', () => {
    git('checkout', '-q', 'main');
    const v1 = tagCommit(repo, 'v1');
    commitVersion('1.5.0');
    git('remote', 'set-url', 'origin', join(origin, 'gone'));
    const r = release('v1.5.0');
    git('remote', 'set-url', 'origin', origin);
    expect(r.out).toMatch(/pushing v1 to origin failed; v1 is back where it was/);
    expect(r.code).toBe(1);
    expect(tagCommit(repo, 'v1')).toBe(v1);
  });
});

describe('this repository, released', () => {
  // Its last commit, cloned: package.json's version (1.0.0 for the first release), its CHANGELOG
  // section and its committed dist/ must be what release.sh accepts.
  it("is releasable at package.json's version: release.sh moves v1 to it", () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const clone = join(mkdtempSync(join(tmpdir(), 'release-self-')), 'repo');
    expect(sh(root, 'git', 'clone', '-q', root, clone).code).toBe(0);
    expect(sh(clone, 'git', 'tag', `v${version}`).code).toBe(0);
    // The project's node_modules at the clone's own path (a symlink would change the bundle's module
    // IDs, which ncc takes from paths), in a mount namespace of its own.
    mkdirSync(join(clone, 'node_modules'));
    const r = sh(
      clone,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$1" node_modules && exec bash scripts/release.sh "$2"',
      'sh',
      join(root, 'node_modules'),
      `v${version}`,
    );
    expect(r.out).toContain(`v${version} released; v1 moved to`);
    expect(r.code).toBe(0);
  }, 120_000);
});
