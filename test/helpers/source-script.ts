import { spawnSync } from 'node:child_process';

/**
 * Runs bash code after a rendered server script sourced with BG_SOURCE_ONLY=1 (its functions defined,
 * nothing run), with HOME as its state directory's parent and, when given, PATH in front of the suite's.
 */
export function runAfterScript(script: string, code: string, env: { home: string; path?: string }): { status: number | null; stdout: string; stderr: string } {
  const PATH = env.path ? `${env.path}:${process.env.PATH}` : process.env.PATH;
  const r = spawnSync('bash', ['-s'], { input: `${script}\n${code}\n`, env: { PATH, HOME: env.home, BG_SOURCE_ONLY: '1' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
