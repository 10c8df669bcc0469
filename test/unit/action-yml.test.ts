import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fleetOutputs } from '../../src/report/fleet';
import { actionYml } from '../helpers/action-inputs';

const root = join(__dirname, '../..');
const validator = join(root, 'node_modules/.bin/action-validator');

describe('action.yml', () => {
  it('runs dist/index.js on node24', () => {
    expect(actionYml.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
  });

  it('passes action-validator (checked as node20, which its 0.6.0 release knows)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'action-yml-'));
    const copy = join(dir, 'action.yml');
    writeFileSync(copy, readFileSync(join(root, 'action.yml'), 'utf8').replace("using: 'node24'", "using: 'node20'"));
    const result = spawnSync(validator, [copy], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).not.toMatch(/error|fatal/i);
    expect(result.status).toBe(0);
  });

  it('fails the validator on a broken action.yml (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'action-yml-'));
    writeFileSync(join(dir, 'action.yml'), 'name: x\nruns:\n  using: node20\n  mian: index.js\n');
    expect(spawnSync(validator, [join(dir, 'action.yml')]).status).not.toBe(0);
  });

  it('documents every input with a description, and every optional input with a default', () => {
    for (const [name, input] of Object.entries(actionYml.inputs)) {
      expect(input.description, name).toBeTruthy();
      if (!input.required) expect(input.default, name).toBeDefined();
    }
  });

  it('declares exactly the outputs the action sets', () => {
    const set = Object.keys(fleetOutputs([{ label: 'deploy@h', report: { command: 'deploy', app: 'a', host: 'h', image: '', phasesSeconds: {}, totalSeconds: 0 } }], 0));
    expect(Object.keys(actionYml.outputs).sort()).toEqual(set.sort());
  });

  it.each(['.github/workflows', '.github/workflows/examples'])('has workflows in %s that pass action-validator', (folder) => {
    const dir = join(root, folder);
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const result = spawnSync(validator, [join(dir, file)], { encoding: 'utf8' });
      expect(result.stdout + result.stderr, file).not.toMatch(/error/i);
      expect(result.status, file).toBe(0);
    }
  });
});
