import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { inputsWithDefaults } from './action-inputs';
import { ENV_FILE } from './server';

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  state: Record<string, string>;
  seconds: number;
  workDir: string; // the run's working directory (also RUNNER_TEMP), to see what it left behind
}

/**
 * Parses a GitHub file command file (GITHUB_OUTPUT, GITHUB_STATE) in the runner's own format:
 * `name=value` lines and the multi-line form `name<<DELIMITER`, value lines, `DELIMITER`.
 */
export function parseFileCommands(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const heredoc = line.match(/^([^=<]+)<<(.+)$/);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const value: string[] = [];
      i++;
      while (i < lines.length && lines[i] !== delimiter) value.push(lines[i++]);
      if (i >= lines.length) throw new Error(`file command for '${name}' has no closing delimiter ${delimiter}`);
      values[name] = value.join('\n');
    } else {
      const eq = line.indexOf('=');
      if (eq < 0) throw new Error(`malformed file command line: ${line}`);
      values[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return values;
}

/** The environment name GitHub gives an input: INPUT_ + upper case, spaces to _, hyphens kept. */
export const inputEnvName = (name: string): string => `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;

export interface RunOptions {
  /** Folder holding action.yml and dist/ (default: the project itself). */
  actionDir?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  onLine?: (line: string) => void;
  /** Files of the workspace (the action's working directory), by their relative path: e.g. a compose file. */
  files?: Record<string, string>;
  /** Called with the action's process as it starts (to kill it by its PID, as a cancelled job dies). */
  onStart?: (child: ChildProcess) => void;
}

/**
 * The Node that runs the bundle: the runtime action.yml names (Node 24, which test/server/up.sh
 * installs and its env file names as BG_NODE24), else this process's own Node (a machine where
 * the test server was never brought up). BG_ACTION_NODE chooses another.
 */
export function actionNode(): string {
  return (chosenNode ??= process.env.BG_ACTION_NODE || node24() || process.execPath);
}
let chosenNode: string | undefined; // read once per test process

function node24(): string | undefined {
  const named = existsSync(ENV_FILE) ? /^BG_NODE24=(.+)$/m.exec(readFileSync(ENV_FILE, 'utf8'))?.[1] : undefined;
  return named && existsSync(named) ? named : undefined;
}

/** Starts `node dist/index.js` exactly as the GitHub runner does (under actionNode()), and collects what it wrote. */
export function runAction(given: Record<string, string>, options: RunOptions = {}): Promise<ActionRun> {
  const actionDir = resolve(options.actionDir ?? join(__dirname, '../..'));
  const work = mkdtempSync(join(tmpdir(), 'bluegreen-run-'));
  const files = { GITHUB_OUTPUT: join(work, 'output'), GITHUB_STEP_SUMMARY: join(work, 'summary'), GITHUB_STATE: join(work, 'state') };
  for (const file of Object.values(files)) writeFileSync(file, '');
  for (const [path, text] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), text);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'example/shop',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    RUNNER_TEMP: work,
    ...files,
    ...options.env,
  };
  if (process.env.DOCKER_HOST && !options.env?.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  for (const [name, value] of Object.entries(inputsWithDefaults(given))) env[inputEnvName(name)] = value;

  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(actionNode(), [join(actionDir, 'dist/index.js')], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    options.onStart?.(child);
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (!options.onLine) return;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach((line) => options.onLine!(line));
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        stdout,
        stderr,
        outputs: parseFileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        state: parseFileCommands(readFileSync(files.GITHUB_STATE, 'utf8')),
        seconds: (Date.now() - started) / 1000,
        workDir: work,
      });
    });
  });
}
