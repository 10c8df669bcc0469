import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const scripts = [
  '.ci/run',
  // The deploy script's parts are checked as the one text they make (script.test.ts).
  'src/remote/scripts/renew.sh',
  // The sh programs that run inside the proxy container.
  ...readdirSync(join(root, 'src/remote/scripts/proxy')).map((f) => `src/remote/scripts/proxy/${f}`),
  ...['bench', 'scripts', 'test', 'test/server'].flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.sh'))
      .map((f) => `${dir}/${f}`),
  ),
];

describe("the project's own shell scripts", () => {
  it('are found', () => expect(scripts.length).toBeGreaterThan(6));
  it.each(scripts)('%s passes shellcheck', (script) => {
    const result = spawnSync('shellcheck', ['-x', '-S', 'style', script], { cwd: root, encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
