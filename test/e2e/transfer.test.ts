import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/inputs/config';
import type { SshConfig } from '../../src/ssh/session';
import { ImageStore, LocalImage } from '../../src/image/local';
import { SshConnectError, SshSession } from '../../src/ssh/session';
import { TransferError, ensureImageOnServer } from '../../src/image/transfer';
import { readerFor } from '../helpers/action-inputs';
import { TestServer, remoteDocker, remoteDockerStatus, resetServerAndImages, serverInputs, testServer } from '../helpers/server';

let server: TestServer;
const store = new ImageStore();
const sessions: SshSession[] = [];

function sshConfig(extra: Record<string, string> = {}): SshConfig {
  return readConfig(readerFor({ ...serverInputs(server, { image: 'x:1', app: 'transfer' }), ...extra })).hosts[0];
}

async function connect(extra: Record<string, string> = {}): Promise<SshSession> {
  const session = await SshSession.connect(sshConfig(extra));
  sessions.push(session);
  return session;
}

async function image(version: string): Promise<LocalImage> {
  return (await store.inspect(`${server.appImage}:${version}`))!;
}

const removeAppImages = () => resetServerAndImages(server);

const remoteId = (ref: string) => remoteDockerStatus(server, ['image', 'inspect', '-f', '{{.Id}}', ref]);

describe('sending an image to the server', () => {
  beforeAll(() => {
    server = testServer();
  });
  afterEach(() => {
    while (sessions.length) sessions.pop()!.close();
  });

  it('sends the whole image once, with the same ID, and nothing the second time', async () => {
    removeAppImages();
    const v1 = await image('v1');
    const ssh = await connect();
    const lines: string[] = [];
    const first = await ensureImageOnServer(ssh, store, v1, { log: (l) => lines.push(l) });
    expect(first.skipped).toBe(false);
    // Only the busybox base layers, which the proxy image on the server shares, are left out.
    const proxy = (await store.inspect(server.proxyImage))!;
    const shared = v1.layers.findIndex((layer, i) => proxy.layers[i] !== layer);
    expect(shared).toBeGreaterThan(0);
    expect(first.layersSkipped).toBe(shared);
    expect(first.bytesSent).toBeGreaterThan(30 * 1024 * 1024); // the random layer does not compress
    expect(remoteId(`${server.appImage}:v1`).out.trim()).toBe(v1.id);
    expect(lines.at(-1)).toMatch(/^sent .* MiB for .* of image/);

    const second = await ensureImageOnServer(ssh, store, v1, { log: (l) => lines.push(l) });
    expect(second).toMatchObject({ skipped: true, bytesSent: 0 });
    expect(lines.at(-1)).toContain('already has');
  }, 120_000);

  it('leaves out the layers the server already has', async () => {
    const v2 = await image('v2');
    remoteDockerStatus(server, ['image', 'rm', '-f', `${server.appImage}:v2`]);
    const ssh = await connect();
    const result = await ensureImageOnServer(ssh, store, v2, { log: () => {} });
    expect(result.layersSkipped).toBe(v2.layers.length - 1);
    expect(result.bytesSent).toBeLessThan(64 * 1024);
    expect(remoteId(`${server.appImage}:v2`).out.trim()).toBe(v2.id);
    // The loaded image is whole: a container runs from it.
    expect(remoteDocker(server, ['run', '--rm', '--entrypoint', '/bin/cat', v2.id, '/version']).trim()).toBe('v2');
  }, 120_000);

  it('reports progress at least every 10% and every few seconds on a slow link', async () => {
    removeAppImages();
    const ssh = await connect();
    const lines: string[] = [];
    const started = Date.now();
    // 4 MiB/s: the transfer lasts several seconds even when docker save starts late on a busy
    // machine (at 8 MiB/s it was over in ~3 s of data there, and the once-a-second report printed 3 lines).
    await ensureImageOnServer(ssh, store, await image('v1'), { log: (l) => lines.push(`${Date.now() - started} ${l}`), limitBytesPerSecond: 4 * 1024 * 1024, progressEverySeconds: 2 });
    const progress = lines.filter((l) => / ETA /.test(l));
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(progress.some((l) => / [4-6]\d% · /.test(l))).toBe(true);
    expect(progress.every((l) => /MiB\/s · ETA/.test(l))).toBe(true);
    const times = progress.map((l) => Number(l.split(' ')[0]));
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeLessThan(3000);
  }, 120_000);

  it('survives a connection cut mid-transfer: clear error, no new tag, the next run succeeds', async () => {
    removeAppImages();
    const v1 = await image('v1');
    const ssh = await connect();
    const transfer = ensureImageOnServer(ssh, store, v1, { log: () => {}, limitBytesPerSecond: 4 * 1024 * 1024 });
    await new Promise((r) => setTimeout(r, 2000));
    // The server side of the session dies: every process below the test sshd's listener, found by
    // the listener's PID (its pid file), never by name.
    const children = (pid: string): string[] =>
      execSync(`ps -o pid= --ppid ${pid} || true`, { encoding: 'utf8' })
        .split('\n')
        .map((p) => p.trim())
        .filter(Boolean);
    const below = (pid: string): string[] => children(pid).flatMap((child) => [child, ...below(child)]);
    const listener = readFileSync(`${process.env.BG_RUN ?? '/run/bluegreen-test'}/sshd.pid`, 'utf8').trim();
    for (const pid of below(listener)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone with its parent
      }
    }
    const error = await transfer.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(TransferError);
    expect(error!.message).toMatch(/connection to 127\.0\.0\.1 broke after \d+ bytes sent|docker load on 127\.0\.0\.1 failed/);
    expect(remoteId(`${server.appImage}:v1`).code).not.toBe(0);
    expect(remoteId(v1.id).code).not.toBe(0);

    const again = await ensureImageOnServer(await connect(), store, v1, { log: () => {} });
    expect(again.skipped).toBe(false);
    expect(remoteId(`${server.appImage}:v1`).out.trim()).toBe(v1.id);
  }, 120_000);
});

describe('connecting to the server', () => {
  beforeAll(() => {
    server = testServer();
  });
  afterEach(() => {
    while (sessions.length) sessions.pop()!.close();
  });

  it('works with Ed25519, PEM RSA and passphrase-protected ECDSA keys, pinned by known_hosts or fingerprint', async () => {
    const fingerprint = execSync(`ssh-keygen -lf ${server.knownHosts}`, { encoding: 'utf8' }).split(' ')[1];
    const variants: Array<Record<string, string>> = [
      {},
      { 'ssh-key': readFileSync(server.keyRsaPem, 'utf8') },
      { 'ssh-key': readFileSync(server.keyEcdsaPass, 'utf8'), 'ssh-key-passphrase': server.keyEcdsaPassphrase },
      { 'known-hosts': '', 'host-fingerprint': fingerprint },
    ];
    for (const variant of variants) {
      const ssh = await connect(variant);
      const result = await ssh.exec('id -un');
      expect(result).toMatchObject({ code: 0, stdout: `${server.user}\n` });
    }
  });

  it('refuses a server whose host key is not the pinned one, before sending anything', async () => {
    const fake = readFileSync(server.fakeHostPub, 'utf8').split(' ').slice(0, 2).join(' ');
    const error = await connect({ 'known-hosts': `[127.0.0.1]:${server.sshPort} ${fake}` }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(SshConnectError);
    expect((error as Error).message).toMatch(/refusing to connect to 127\.0\.0\.1:\d+: the server presented host key SHA256:\S+, which is not the one known-hosts pins .* man-in-the-middle/);
  });

  it('says so when the server refuses the user key', async () => {
    const error = await connect({ 'ssh-key': readFileSync(server.keyUnauthorized, 'utf8') }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/deploy@127\.0\.0\.1:\d+ refused the SSH key/);
  });

  it('fails within the connect timeout on a port where nothing listens', async () => {
    const started = Date.now();
    const error = await connect({ port: '1', 'connect-timeout': '3s', 'known-hosts': '', 'insecure-skip-host-key-check': 'true' }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/nothing accepts SSH connections at 127\.0\.0\.1:1/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('retries with backoff before giving up', async () => {
    const logged: string[] = [];
    const config = sshConfig({ port: '1', 'connect-retries': '2', 'known-hosts': '', 'insecure-skip-host-key-check': 'true' });
    const started = Date.now();
    const error = await SshSession.connect(config, (l) => logged.push(l)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(SshConnectError);
    expect(logged).toEqual([expect.stringMatching(/trying again in 1s \(attempt 2 of 3\)/), expect.stringMatching(/trying again in 2s \(attempt 3 of 3\)/)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  });
});
