// command prune (issue 26) on the classic server: three preview apps under shop-pr- and one other app;
// prune with one preview kept removes exactly the other two (routes, containers, images) while the
// kept preview and the other app serve under load with 0 failed requests; an app outside the prefix
// is never touched, named in keep or not; prune-after removes only the apps the test made old.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { type Sample, failures, startLoad } from '../helpers/load';
import { containersOf, getThroughProxy, remoteDockerStatus, resetServer, serverInputs, testServer } from '../helpers/server';

const server = testServer('classic');
const stateDir = `${server.home}/.bluegreen`;

/** A preview's own image (its own ID, so that removing it shows), built from the test app. */
function previewImage(n: number): string {
  const reference = `${server.appImage}:pr${n}`;
  execFileSync('docker', ['build', '-q', '-t', reference, '-'], { input: `FROM ${server.appImage}:v1\nLABEL preview=${n}\n`, stdio: ['pipe', 'ignore', 'inherit'] });
  return reference;
}

const imageId = (reference: string) => execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', reference], { encoding: 'utf8' }).trim();
const onServer = (id: string) => remoteDockerStatus(server, ['image', 'inspect', id]).code === 0;

async function deploy(app: string, image: string): Promise<void> {
  const run = await runAction(serverInputs(server, { app, hostname: `${app}.test`, image }));
  expect(run.code, run.stdout).toBe(0);
}

const prune = (extra: Record<string, string>) => runAction(serverInputs(server, { command: 'prune', 'prune-prefix': 'shop-pr-', ...extra }));

/** Every deploy of the app in its history made `days` old. */
function age(app: string, days: number): void {
  const file = `${stateDir}/apps/${app}/history.jsonl`;
  const then = new Date(Date.now() - days * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/"time":"[^"]*"/g, `"time":"${then}"`));
}

describe('command prune', () => {
  it('removes exactly the previews keep does not name (routes, containers, images), while the kept one and another app serve with 0 failed', async () => {
    resetServer(server);
    const images = [1, 2, 3].map(previewImage);
    for (const [i, image] of images.entries()) await deploy(`shop-pr-${i + 1}`, image);
    await deploy('shop', `${server.appImage}:v2`);
    const ids = images.map(imageId);
    expect(ids.every(onServer)).toBe(true);

    const loads = ['shop-pr-2.test', 'shop.test'].map((host) => startLoad({ port: server.proxyPort, hostHeader: host, steadyWorkers: 2, maxSeconds: 120 }));
    let run: ActionRun;
    let samples: Sample[][];
    try {
      await new Promise((r) => setTimeout(r, 500));
      // The other app in keep or not: never touched.
      run = await prune({ keep: 'shop-pr-2, shop' });
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      samples = await Promise.all(loads.map((l) => l.stop()));
    }
    const [previewSamples, otherSamples] = samples;
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.pruned)).toEqual(['shop-pr-1', 'shop-pr-3']);
    expect(JSON.parse(run.outputs.kept)).toEqual(['shop-pr-2']);
    expect(run.outputs.result).toBe('removed');
    for (const samples of [previewSamples, otherSamples]) {
      expect(samples.length).toBeGreaterThan(20);
      expect(failures(samples)).toEqual([]);
    }

    // Gone: containers, proxy configs and routes, images. Kept: the rest, serving.
    expect(containersOf(server, 'shop-pr-1')).toEqual([]);
    expect(containersOf(server, 'shop-pr-3')).toEqual([]);
    for (const app of ['shop-pr-1', 'shop-pr-3']) {
      expect(existsSync(`${stateDir}/nginx/${app}.conf`)).toBe(false);
      expect(existsSync(`${stateDir}/nginx/routes/${app}.locations`)).toBe(false);
      await expect(getThroughProxy(server, `${app}.test`)).rejects.toThrow(); // the catch-all closes the connection
    }
    expect([ids[0], ids[2]].map(onServer)).toEqual([false, false]);
    expect(onServer(ids[1])).toBe(true);
    expect(containersOf(server, 'shop-pr-2')).toEqual(['shop-pr-2-blue running']);
    expect(containersOf(server, 'shop')).toEqual(['shop-blue running']);
    expect(await getThroughProxy(server, 'shop-pr-2.test')).toBe('200 v1');
    expect(await getThroughProxy(server, 'shop.test')).toBe('200 v2');
    expect(run.summary).toContain('🗑️ prune shop-pr-*: removed shop-pr-1, shop-pr-3; kept 1');
    expect(run.summary).toMatch(/\| shop-pr-1 \| 🗑️ removed \| 20\d\d-[^|]+ \| not in keep \|/);
    expect(run.summary).toMatch(/\| shop-pr-2 \| kept \| [^|]+ \| in keep \|/);
    expect(run.summary).not.toMatch(/\| shop \|/);

    // Nothing left to remove: the same run changes nothing.
    const again = await prune({ keep: 'shop-pr-2' });
    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs.result).toBe('unchanged');
    expect(JSON.parse(again.outputs.pruned)).toEqual([]);
    expect(again.summary).toContain('✅ prune shop-pr-*: nothing to remove; kept 1');
  }, 240_000);

  it('prune-after removes only the apps whose last deploy is older, kept or not; the other app stays however old', async () => {
    // After the test above: shop-pr-2 and shop are live. Two more previews, one of them made old, and shop too.
    await deploy('shop-pr-4', `${server.appImage}:v2`);
    await deploy('shop-pr-5', `${server.appImage}:v2`);
    age('shop-pr-4', 10);
    age('shop', 30);
    const run = await prune({ keep: 'shop-pr-2 shop-pr-4 shop-pr-5', 'prune-after': '7d' });
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.pruned)).toEqual(['shop-pr-4']);
    expect(JSON.parse(run.outputs.kept)).toEqual(['shop-pr-2', 'shop-pr-5']);
    expect(run.stdout).toMatch(/removing shop-pr-4: last deployed 10d 0h ago, more than prune-after \(7d 0h\)/);
    expect(containersOf(server, 'shop-pr-4')).toEqual([]);
    expect(containersOf(server, 'shop-pr-5')).toEqual(['shop-pr-5-blue running']);
    expect(containersOf(server, 'shop')).toEqual(['shop-blue running']);
    expect(await getThroughProxy(server, 'shop.test')).toBe('200 v2');
  }, 120_000);
});
