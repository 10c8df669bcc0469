import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

/** The throwaway test server brought up by test/server/up.sh (see its env file). */
export interface TestServer {
  host: string;
  sshPort: number;
  user: string;
  nobashUser: string; // a login whose PATH has no bash
  key: string; // file paths
  keyRsaPem: string;
  keyEcdsaPass: string;
  keyEcdsaPassphrase: string;
  keyUnauthorized: string;
  knownHosts: string; // file path
  fakeHostPub: string;
  remoteDockerHost: string;
  proxyImage: string;
  proxyPort: number;
  /** What the action's proxy-ports input publishes (the modern server's proxy is reached through its container). */
  proxyPorts: string;
  appImage: string;
  kind: ServerKind;
  home: string; // the deploy user's home directory, as this machine sees it
  container?: string; // a modern server: the container on this machine's daemon that is the server
}

/**
 * classic: Debian 12's Docker 20.10 (classic image store); modern: Docker 28 with the containerd image
 * store; third: a second modern server, for runs on several hosts.
 */
export type ServerKind = 'classic' | 'modern' | 'third';
export const SERVER_KINDS: readonly ServerKind[] = ['classic', 'modern'];

export const ENV_FILE = process.env.BG_RUN ? `${process.env.BG_RUN}/env` : '/run/bluegreen-test/env';

function readEnv(): Record<string, string> {
  if (!existsSync(ENV_FILE)) throw new Error(`${ENV_FILE} is missing: start the test server with bash test/server/up.sh`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const m = line.match(/^(\w+)=(.*)$/);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return env;
}

export function testServer(kind: ServerKind = 'classic'): TestServer {
  const env = readEnv();
  const classic: TestServer = {
    host: env.BG_HOST,
    sshPort: Number(env.BG_SSH_PORT),
    user: env.BG_USER,
    nobashUser: env.BG_NOBASH_USER,
    key: env.BG_KEY,
    keyRsaPem: env.BG_KEY_RSA_PEM,
    keyEcdsaPass: env.BG_KEY_ECDSA_PASS,
    keyEcdsaPassphrase: env.BG_KEY_ECDSA_PASSPHRASE,
    keyUnauthorized: env.BG_KEY_UNAUTHORIZED,
    knownHosts: env.BG_KNOWN_HOSTS,
    fakeHostPub: env.BG_FAKE_HOST_PUB,
    remoteDockerHost: env.BG_REMOTE_DOCKER_HOST,
    proxyImage: env.BG_PROXY_IMAGE,
    proxyPort: Number(env.BG_PROXY_PORT),
    proxyPorts: `127.0.0.1:${env.BG_PROXY_PORT}:80`,
    appImage: env.BG_APP_IMAGE,
    kind: 'classic',
    home: `/home/${env.BG_USER}`,
  };
  if (kind === 'classic') return classic;
  if (kind === 'third') {
    return {
      ...classic,
      sshPort: Number(env.BG_MODERN2_SSH_PORT),
      knownHosts: env.BG_MODERN2_KNOWN_HOSTS,
      remoteDockerHost: env.BG_MODERN2_SERVER_DOCKER_HOST,
      proxyImage: env.BG_MODERN_PROXY_IMAGE,
      proxyPort: Number(env.BG_MODERN2_PROXY_PORT),
      proxyPorts: `${env.BG_MODERN2_PROXY_PORT}:80`,
      kind,
      home: env.BG_MODERN2_HOME,
      container: env.BG_MODERN2_SERVER_CONTAINER ?? 'bluegreen-test-modern-server2',
    };
  }
  return {
    ...classic,
    sshPort: Number(env.BG_MODERN_SSH_PORT),
    knownHosts: env.BG_MODERN_KNOWN_HOSTS,
    remoteDockerHost: env.BG_MODERN_SERVER_DOCKER_HOST,
    proxyImage: env.BG_MODERN_PROXY_IMAGE,
    proxyPort: Number(env.BG_MODERN_PROXY_PORT),
    proxyPorts: `${env.BG_MODERN_PROXY_PORT}:80`,
    kind: 'modern',
    home: env.BG_MODERN_HOME,
    container: env.BG_MODERN_SERVER_CONTAINER,
  };
}

/** classic: the machine's Docker 20.10; modern: Docker 28 with the containerd image store, whose builds store layers compressed. */
export type RunnerKind = 'classic' | 'modern';

/** The DOCKER_HOST of a test runner's daemon ('' for the machine's own). */
export function runnerDockerHost(kind: RunnerKind): string {
  return kind === 'classic' ? '' : readEnv().BG_MODERN_RUNNER_DOCKER_HOST;
}

/** docker against a test runner's daemon. */
export function runnerDocker(kind: RunnerKind, args: string[]): string {
  const host = runnerDockerHost(kind);
  return execFileSync('docker', args, { env: host ? { ...process.env, DOCKER_HOST: host } : process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** docker against the remote daemon (the "server"), for looking at what a run left there. */
export function remoteDocker(server: TestServer, args: string[], input?: string): string {
  return execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST: server.remoteDockerHost }, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
}

export function remoteDockerStatus(server: TestServer, args: string[]): { code: number | null; out: string } {
  const r = spawnSync('docker', args, { env: { ...process.env, DOCKER_HOST: server.remoteDockerHost }, encoding: 'utf8' });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** docker against the local daemon (the "runner"). */
export function localDocker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** The action's inputs that reach the test server, for deploying one of the test app images. */
export function serverInputs(server: TestServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: server.host,
    port: String(server.sshPort),
    user: server.user,
    'ssh-key': readFileSync(server.key, 'utf8'),
    'known-hosts': readFileSync(server.knownHosts, 'utf8'),
    'proxy-image': server.proxyImage,
    'proxy-ports': server.proxyPorts,
    build: 'false',
    'drain-seconds': '1',
    'stop-timeout': '10',
    // The test app is ready about 1 s after it starts: a short interval finds it so (≈1 s a deploy, ~300 deploys in the suite).
    'health-interval': '250ms',
    'connect-retries': '0',
    ...extra,
  };
}

/** The names of the app's containers on the server (by its label) with their state, sorted: "NAME STATE". */
export function containersOf(server: TestServer, app: string): string[] {
  return remoteDocker(server, ['ps', '-a', '--filter', `label=bluegreen.app=${app}`, '--format', '{{.Names}} {{.State}}'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** Removes every container of the remote daemon and the state of the deploy user: a clean server. */
export function resetServer(server: TestServer): void {
  const ids = remoteDocker(server, ['ps', '-aq']).split('\n').filter(Boolean);
  if (ids.length) remoteDocker(server, ['rm', '-f', ...ids]);
  execFileSync('rm', ['-rf', `${server.home}/.bluegreen`]);
}

/** A server that runs nothing and has no image but the proxy's: none of the app layers are there. */
export function resetServerAndImages(server: TestServer): void {
  resetServer(server);
  // The test server's own parts stay: the proxy, and the ACME test CA and client (https.test.ts).
  const env = readEnv();
  const keep = new Set([server.proxyImage, env.BG_LEGO_IMAGE, env.BG_PEBBLE_IMAGE].map((image) => remoteDockerStatus(server, ['image', 'inspect', '-f', '{{.Id}}', image]).out.trim()));
  const unkept = () => [
    ...new Set(
      remoteDocker(server, ['image', 'ls', '-aq', '--no-trunc'])
        .split('\n')
        .filter((id) => id && !keep.has(id)),
    ),
  ];
  const ids = unkept();
  const removed = ids.length ? remoteDockerStatus(server, ['image', 'rm', '-f', ...ids]) : { code: 0, out: '' };
  // The containerd store keeps the layers of an interrupted load under a lease for hours, where a
  // later load finds them; prune ends those leases (it removes no tagged image).
  remoteDocker(server, ['image', 'prune', '-f']);
  const left = unkept();
  if (left.length) throw new Error(`the test server still has images ${left.join(' ')} after removing them: ${removed.out}`);
}

/** GET over HTTPS from a proxy's published port, with SNI and Host set to `host`, checked against `ca`. */
export function getHttpsThroughProxy(port: number, host: string, ca: string | Buffer, path = '/'): Promise<{ status: number; body: string; cert?: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, servername: host, headers: { Host: host }, ca, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), cert: (res.socket as TLSSocket).getPeerX509Certificate?.() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** GET a path through the proxy's published port with a Host header (fetch() cannot set Host): "STATUS BODY". */
export function getThroughProxy(server: TestServer, host: string, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.proxyPort, path, headers: { Host: host }, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      })
      .on('error', reject);
  });
}
