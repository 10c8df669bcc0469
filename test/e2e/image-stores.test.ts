// The two image stores Docker has, on either end: the classic one (Debian 12's Docker 20.10) and the
// containerd one (Docker 28 from sid, the default of new installs), as runner and as server.
import { execSync } from 'node:child_process';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/inputs/config';
import { ImageStore, LocalImage } from '../../src/image/local';
import { endpointOf } from '../../src/image/engine-api';
import { SshSession } from '../../src/ssh/session';
import { configTag } from '../../src/image/server-images';
import { TransferError, ensureImageOnServer } from '../../src/image/transfer';
import { readerFor } from '../helpers/action-inputs';
import { ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import {
  RunnerKind,
  SERVER_KINDS,
  ServerKind,
  TestServer,
  getThroughProxy,
  remoteDocker,
  remoteDockerStatus,
  resetServer,
  resetServerAndImages,
  runnerDocker,
  runnerDockerHost,
  serverInputs,
  testServer,
} from '../helpers/server';

const COMBINATIONS: Array<[RunnerKind, ServerKind]> = [
  ['classic', 'classic'],
  ['classic', 'modern'],
  ['modern', 'classic'],
  ['modern', 'modern'],
];

const sessions: SshSession[] = [];
afterEach(() => {
  while (sessions.length) sessions.pop()!.close();
});

function storeOf(runner: RunnerKind): ImageStore {
  const host = runnerDockerHost(runner);
  return new ImageStore(endpointOf(host ? { DOCKER_HOST: host } : process.env));
}

async function connect(server: TestServer): Promise<SshSession> {
  const config = readConfig(readerFor(serverInputs(server, { image: 'x:1', app: 'stores' }))).hosts[0];
  const session = await SshSession.connect(config);
  sessions.push(session);
  return session;
}

/** The config digest of a runner's image, read from its own `docker save` (manifest.json names the config blob). */
function configDigestBySave(runner: RunnerKind, reference: string): string {
  const listing = runnerDocker(runner, ['image', 'inspect', '-f', '{{.Id}}', reference]).trim();
  if (runner === 'classic') return listing;
  const saved = execSync(`docker save ${reference} | tar -xO manifest.json`, { env: { ...process.env, DOCKER_HOST: runnerDockerHost(runner) }, encoding: 'utf8' });
  return `sha256:${(JSON.parse(saved) as Array<{ Config: string }>)[0].Config.replace(/^blobs\/sha256\//, '')}`;
}

const version = (server: TestServer, reference: string) => remoteDocker(server, ['run', '--rm', '--network', 'none', '--entrypoint', '/bin/cat', reference, '/version']).trim();

describe.each(COMBINATIONS)('image transfer, runner %s -> %s server', (runner, kind) => {
  let server: TestServer;
  let store: ImageStore;
  const image = async (v: string): Promise<LocalImage> => (await store.inspect(`${server.appImage}:${v}`))!;
  const base = async (): Promise<LocalImage> => (await store.inspect('bluegreen-test/busybox:1'))!;

  beforeAll(() => {
    server = testServer(kind);
    store = storeOf(runner);
    resetServerAndImages(server);
  });

  it("identifies the image by its config digest, as the runner's own docker save names it", async () => {
    const v1 = await image('v1');
    expect(v1.id).toBe(configDigestBySave(runner, `${server.appImage}:v1`));
    expect(v1.compressedLayers).toBe(runner === 'modern'); // BuildKit on the containerd store keeps layers compressed
  });

  it('sends only what the server lacks: the middle layers over a base it has, ~nothing for a top-layer change, nothing for a re-run', async () => {
    const ssh = await connect(server);
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    const busybox = await ensureImageOnServer(ssh, store, await base(), { log });
    expect(busybox.skipped || busybox.layersSkipped <= 2).toBe(true);

    const v1 = await image('v1');
    const first = await ensureImageOnServer(ssh, store, v1, { log });
    expect(first).toMatchObject({ skipped: false, layersSkipped: 2, layersTotal: 5, resentWhole: false });
    expect(first.bytesSent).toBeGreaterThan(30 * 1024 * 1024); // the random middle layer
    expect(first.bytesSent).toBeLessThan(33 * 1024 * 1024);
    expect(version(server, `${server.appImage}:v1`)).toBe('v1');
    const layersThere = remoteDocker(server, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', `${server.appImage}:v1`]).trim();
    expect(JSON.parse(layersThere)).toEqual(v1.layers);
    // Gzip only where the runner's layers are not compressed already.
    expect(lines.some((l) => l.includes(runner === 'modern' ? 'layers already compressed, no gzip' : 'parallel gzip'))).toBe(true);

    const v2 = await ensureImageOnServer(ssh, store, await image('v2'), { log });
    expect(v2).toMatchObject({ skipped: false, layersSkipped: 4 });
    expect(v2.bytesSent).toBeLessThan(0.05 * first.bytesSent);
    expect(version(server, `${server.appImage}:v2`)).toBe('v2');

    const rerun = await ensureImageOnServer(ssh, store, v1, { log });
    expect(rerun).toMatchObject({ skipped: true, bytesSent: 0, serverImageId: first.serverImageId });
    // The containerd store names the image by its manifest; the config tag resolves it.
    if (kind === 'modern') {
      expect(first.serverImageId).not.toBe(v1.id);
      expect(remoteDocker(server, ['image', 'inspect', '-f', '{{.Id}}', configTag(v1.id)]).trim()).toBe(first.serverImageId);
    } else {
      expect(first.serverImageId).toBe(v1.id);
    }
  }, 180_000);

  it("sends the image again when the server's store was emptied between runs", async () => {
    resetServerAndImages(server);
    const ssh = await connect(server);
    const again = await ensureImageOnServer(ssh, store, await image('v1'), { log: () => undefined });
    expect(again.skipped).toBe(false);
    expect(again.bytesSent).toBeGreaterThan(30 * 1024 * 1024);
    expect(version(server, `${server.appImage}:v1`)).toBe('v1');
  }, 120_000);

  it('detects a load that lost layers it counted on (removed mid-transfer), takes the tag back and sends it whole, once', async () => {
    const ssh = await connect(server);
    const v3 = await image('v3');
    const lines: string[] = [];
    const result = await ensureImageOnServer(ssh, store, v3, {
      log: (line) => {
        lines.push(line);
        // The real fault: the images that held those layers vanish after the server was asked.
        if (line.includes('leaving them out') && lines.filter((l) => l.includes('leaving them out')).length === 1) resetServerAndImages(server);
      },
    });
    expect(lines.join('\n')).toMatch(/took its tag back and sending .* whole/);
    expect(result).toMatchObject({ skipped: false, resentWhole: true });
    expect(result.bytesSent).toBeGreaterThan(30 * 1024 * 1024);
    expect(version(server, `${server.appImage}:v3`)).toBe('v3');
  }, 180_000);
});

describe.each(SERVER_KINDS)('deploying to the %s server', (kind) => {
  let server: TestServer;
  const runnerEnv = (runner: RunnerKind): Record<string, string> => (runner === 'modern' ? { DOCKER_HOST: runnerDockerHost('modern') } : {});
  const deploy = (v: string, runner: RunnerKind = 'classic', extra: Record<string, string> = {}): Promise<ActionRun> =>
    runAction(serverInputs(server, { app: 'stores', hostname: 'stores.test', image: `${server.appImage}:${v}`, 'health-timeout': '8s', ...extra }), {
      env: runnerEnv(runner),
    });
  const command = (name: string) => runAction(serverInputs(server, { app: 'stores', command: name, image: '' }));
  const get = () => getThroughProxy(server, 'stores.test');

  beforeAll(() => {
    server = testServer(kind);
    resetServerAndImages(server);
    remoteDockerStatus(server, ['rm', '-f', 'bluegreen-proxy']);
  });

  it('deploys, redeploys a changed top layer under load, re-runs an old job for ~0 bytes, rolls back, reports and removes', async () => {
    const first = await deploy('v1');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs).toMatchObject({ result: 'switched', 'active-slot': 'blue', 'image-id': configDigestBySave('classic', `${server.appImage}:v1`) });
    expect(Number(first.outputs['bytes-sent'])).toBeGreaterThan(30 * 1024 * 1024);
    expect(await get()).toBe('200 v1');

    const load = startLoad({ port: server.proxyPort, hostHeader: 'stores.test', steadyWorkers: 3, slowWorkers: 1, slowMs: 1500, maxSeconds: 60 });
    let second: ActionRun;
    try {
      second = await deploy('v2');
    } finally {
      await load.stop();
    }
    expect(second!.code, second!.stdout).toBe(0);
    expect(Number(second!.outputs['bytes-sent'])).toBeLessThan(0.05 * Number(first.outputs['bytes-sent']));
    expect(load.samples.length).toBeGreaterThan(50);
    expect(failures(load.samples)).toEqual([]);
    expect(await get()).toBe('200 v2');

    const rerun = await deploy('v1');
    expect(rerun.code, rerun.stdout).toBe(0);
    expect(rerun.outputs).toMatchObject({ result: 'switched', 'bytes-sent': '0', 'active-slot': 'blue', 'image-id': first.outputs['image-id'] });
    expect(await get()).toBe('200 v1');

    const same = await deploy('v1');
    expect(same.outputs).toMatchObject({ result: 'unchanged', 'bytes-sent': '0' });

    const rollback = await command('rollback');
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.outputs).toMatchObject({ result: 'switched', 'previous-slot': 'blue', 'active-slot': 'green' });
    expect(rollback.summary).toContain('rolled back BLUE → GREEN');
    expect(await get()).toBe('200 v2');

    const status = await command('status');
    expect(status.code, status.stdout).toBe(0);
    expect(status.outputs['active-slot']).toBe('green');
    // Images are named by config digest in labels, history and outputs, whatever the store calls them.
    expect(status.outputs['image-id']).toBe(configDigestBySave('classic', `${server.appImage}:v2`));
    const history = JSON.parse(status.outputs.history) as Array<{ imageId: string | null }>;
    expect(history.map((h) => h.imageId).filter(Boolean)).toContain(first.outputs['image-id']);

    const removed = await command('remove');
    expect(removed.code, removed.stdout).toBe(0);
    const left = remoteDocker(server, ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])
      .split('\n')
      .filter((n) => n.includes('bluegreen/by-config') || n.includes('app:v'));
    expect(left).toEqual([]);
  }, 300_000);

  it('deploys what a containerd-store runner built (compressed layers, no second gzip)', async () => {
    resetServer(server);
    const run = await deploy('v2', 'modern');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('layers already compressed, no gzip');
    expect(run.outputs['image-id']).toBe(configDigestBySave('modern', `${server.appImage}:v2`));
    expect(await get()).toBe('200 v2');
    const rerun = await deploy('v2', 'modern', { env: 'CHANGED=1' });
    expect(rerun.outputs).toMatchObject({ result: 'switched', 'bytes-sent': '0' });
    expect(await command('remove').then((r) => r.code)).toBe(0);
  }, 180_000);

  it('counts the bytes that went over the wire when the connection is cut mid-transfer, and leaves no tag', async () => {
    resetServerAndImages(server);
    const ssh = await connect(server);
    const v1 = (await storeOf('classic').inspect(`${server.appImage}:v1`))!;
    const transfer = ensureImageOnServer(ssh, storeOf('classic'), v1, { log: () => undefined, limitBytesPerSecond: 4 * 1024 * 1024 });
    await new Promise((r) => setTimeout(r, 2000));
    ssh.close(); // the real fault: the connection goes away with half the image sent
    const error = await transfer.then(
      () => undefined,
      (e: unknown) => e as TransferError,
    );
    expect(error).toBeInstanceOf(TransferError);
    // 2 s at 4 MiB/s: well over 1 MiB even when the runner starts late on a busy machine (4.06 MB
    // was seen under the two-lane suite), well under the whole image.
    expect(error!.bytesSent).toBeGreaterThan(1024 * 1024);
    expect(error!.bytesSent).toBeLessThan(30 * 1024 * 1024);
    expect(remoteDockerStatus(server, ['image', 'inspect', `${server.appImage}:v1`]).code).not.toBe(0);
  }, 120_000);
});
