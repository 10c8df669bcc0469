import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import type { InputReader } from '../../src/inputs/read';

interface ActionInput {
  description: string;
  required?: boolean;
  default?: string;
}

/** The project's action.yml, found upwards from here (the tests run from test/, the bench compiled into .bench/js/). */
function actionYmlPath(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'action.yml'))) return join(dir, 'action.yml');
    if (dirname(dir) === dir) throw new Error(`no action.yml above ${__dirname}`);
  }
}

export const actionYml = parse(readFileSync(actionYmlPath(), 'utf8')) as {
  inputs: Record<string, ActionInput>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
};

/** The inputs as GitHub would pass them: action.yml's defaults, overridden by `given`. */
export function inputsWithDefaults(given: Record<string, string>): Record<string, string> {
  const all: Record<string, string> = {};
  for (const [name, input] of Object.entries(actionYml.inputs)) all[name] = input.default ?? '';
  for (const [name, value] of Object.entries(given)) {
    if (!(name in actionYml.inputs)) throw new Error(`test uses input '${name}', which action.yml does not declare`);
    all[name] = value;
  }
  return all;
}

export function readerFor(given: Record<string, string>): InputReader {
  const all = inputsWithDefaults(given);
  return (name) => {
    if (!(name in all)) throw new Error(`code reads input '${name}', which action.yml does not declare`);
    return all[name];
  };
}
