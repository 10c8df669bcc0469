// Runs one job of a workflow file here, step by step, as the GitHub runner would: `uses: ./` through
// the action runner (dist/index.js with INPUT_* variables), `run:` steps with bash -e and the
// GITHUB_OUTPUT / GITHUB_ENV files, `${{ }}` expressions over steps, env and inputs, and
// `continue-on-error`. Steps that `uses:` another action set up the machine on GitHub and are
// skipped here (the suite has already done what they do). Anything else the file asks for (an
// `if:`, an expression it cannot read) fails loudly rather than being skipped.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseFileCommands, runAction } from './action-runner';

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
  env?: Record<string, string | number | boolean>;
  'continue-on-error'?: boolean;
  if?: string;
  shell?: string;
}

interface Job {
  env?: Record<string, string | number | boolean>;
  steps: Step[];
}

export interface StepRecord {
  id?: string;
  name: string;
  skipped: boolean; // another action's setup step
  outcome: 'success' | 'failure';
  conclusion: 'success' | 'failure';
  outputs: Record<string, string>;
  log: string;
}

type Context = { steps: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }>; env: Record<string, string> };

/** Replaces every `${{ a.b.c }}` with its value; only plain property paths are understood. */
export function evaluate(text: string, context: Context): string {
  return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expression: string) => {
    if (!/^[A-Za-z_][\w-]*(\.[\w-]+)+$/.test(expression)) throw new Error(`workflow runner: cannot evaluate \${{ ${expression} }}`);
    const [root, ...path] = expression.split('.');
    if (root !== 'steps' && root !== 'env') throw new Error(`workflow runner: no context '${root}' in \${{ ${expression} }}`);
    let value: unknown = context[root];
    for (const key of path) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    return value === undefined ? '' : String(value);
  });
}

const evaluateAll = (values: Record<string, string | number | boolean> | undefined, context: Context): Record<string, string> =>
  Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [k, evaluate(String(v), context)]));

/**
 * Runs the job's steps in order; a failing step without continue-on-error ends the job (as on
 * GitHub, later steps are not run). `env` is the environment every step starts from; `run:` steps
 * run in `workspace` (the checkout).
 */
export async function runWorkflowJob(file: string, jobName: string, env: Record<string, string>, workspace: string): Promise<{ steps: StepRecord[]; failed?: StepRecord }> {
  const workflow = parse(readFileSync(file, 'utf8')) as { jobs: Record<string, Job> };
  const job = workflow.jobs[jobName];
  if (!job) throw new Error(`workflow runner: ${file} has no job '${jobName}'`);
  const context: Context = { steps: {}, env: {} };
  context.env = { ...evaluateAll(job.env, context) };
  const records: StepRecord[] = [];
  for (const step of job.steps) {
    const name = step.name ?? step.uses ?? step.run?.split('\n')[0] ?? '?';
    if (step.if !== undefined) throw new Error(`workflow runner: step '${name}' has an if:, which this runner does not evaluate`);
    let record: StepRecord;
    if (step.uses && step.uses !== './') {
      record = { id: step.id, name, skipped: true, outcome: 'success', conclusion: 'success', outputs: {}, log: '' };
    } else {
      const stepEnv = { ...env, ...context.env, ...evaluateAll(step.env, context) };
      const ran = step.uses ? await runUses(evaluateAll(step.with, context), stepEnv) : runScript(evaluate(step.run ?? '', context), stepEnv, context, workspace);
      const outcome = ran.ok ? 'success' : 'failure';
      record = { id: step.id, name, skipped: false, outcome, conclusion: ran.ok || step['continue-on-error'] ? 'success' : 'failure', outputs: ran.outputs, log: ran.log };
    }
    records.push(record);
    if (step.id) context.steps[step.id] = { outputs: record.outputs, outcome: record.outcome, conclusion: record.conclusion };
    if (record.conclusion === 'failure') return { steps: records, failed: record };
  }
  return { steps: records };
}

interface Ran {
  ok: boolean;
  outputs: Record<string, string>;
  log: string;
}

async function runUses(inputs: Record<string, string>, env: Record<string, string>): Promise<Ran> {
  // The action sees the workflow's env as GitHub gives it (DOCKER_HOST for the runner's daemon, ...).
  const run = await runAction(inputs, { env });
  return { ok: run.code === 0, outputs: run.outputs, log: run.stdout + run.stderr };
}

function runScript(script: string, env: Record<string, string>, context: Context, workspace: string): Ran {
  const work = mkdtempSync(join(tmpdir(), 'bluegreen-step-'));
  const files = { GITHUB_OUTPUT: join(work, 'output'), GITHUB_ENV: join(work, 'env') };
  for (const path of Object.values(files)) writeFileSync(path, '');
  const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
    cwd: workspace,
    env: { ...process.env, ...env, ...files },
    encoding: 'utf8',
    timeout: 300_000,
  });
  Object.assign(context.env, parseFileCommands(readFileSync(files.GITHUB_ENV, 'utf8')));
  return { ok: result.status === 0, outputs: parseFileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8')), log: `${result.stdout}${result.stderr}${result.error ? String(result.error) : ''}` };
}
