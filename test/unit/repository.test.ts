// What users check before adopting an action: pinned third-party actions, a license that matches
// package.json, a security policy, Dependabot for both ecosystems, a changelog in Keep a Changelog form.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(__dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const workflows = ['.github/workflows', '.github/workflows/examples'].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `${dir}/${f}`),
);

/** Every `uses:` of a workflow file, with the comment after it. */
const usesOf = (path: string) => [...read(path).matchAll(/^\s*(?:- )?uses:\s*(\S+)(.*)$/gm)].map(([, ref, rest]) => ({ ref, comment: rest.trim() }));

/** A third-party action must be pinned by a full commit SHA, its version in a comment. */
function pinningProblem(ref: string, comment: string): string | undefined {
  if (ref === './' || ref.startsWith('./.github/workflows/')) return undefined; // this repository
  if (ref === 'org/bluegreen-action@v1') return undefined; // this action, as the README tells users to write it
  if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(ref)) return `${ref} is not pinned by a full commit SHA`;
  if (!/^# v\d+(\.\d+)*$/.test(comment)) return `${ref} has no "# vX.Y.Z" comment naming its version`;
  return undefined;
}

describe('repository hygiene', () => {
  it.each(workflows)('%s pins every third-party action by commit SHA', (path) => {
    const uses = usesOf(path);
    expect(uses.length).toBeGreaterThan(0);
    expect(uses.map(({ ref, comment }) => pinningProblem(ref, comment)).filter(Boolean)).toEqual([]);
  });

  it.each([
    ['actions/checkout@v4', ''],
    ['actions/checkout@main', '# v4'],
    ['actions/checkout@11bd71901bbe5b1630ceea73d275973', '# v4.2.2'],
    ['actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683', ''],
    ['other/bluegreen-action@v1', ''],
  ])('the pinning check refuses %s %s', (ref, comment) => {
    expect(pinningProblem(ref, comment)).toBeDefined();
  });

  it('has a LICENSE that is the license package.json names', () => {
    const license = (JSON.parse(read('package.json')) as { license: string }).license;
    expect(license).toBe('MIT');
    expect(read('LICENSE')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} /);
  });

  it('has a security policy that says how to report and what the action touches', () => {
    const policy = read('SECURITY.md');
    expect(policy).toMatch(/## Reporting a vulnerability/);
    expect(policy).toMatch(/## What the action touches/);
  });

  it('has Dependabot for npm and for the actions the workflows use', () => {
    const config = parse(read('.github/dependabot.yml')) as { version: number; updates: Array<{ 'package-ecosystem': string; directory: string }> };
    expect(config.version).toBe(2);
    expect(config.updates.map((u) => `${u['package-ecosystem']} ${u.directory}`).sort()).toEqual(['github-actions /', 'npm /']);
  });

  it('has a changelog in Keep a Changelog form, with an Unreleased section on top', () => {
    const changelog = read('CHANGELOG.md');
    const sections = [...changelog.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]);
    expect(sections[0]).toBe('Unreleased');
    for (const version of sections.slice(1)) expect(changelog).toMatch(new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'));
    expect(changelog).toContain('keepachangelog.com');
  });
});
