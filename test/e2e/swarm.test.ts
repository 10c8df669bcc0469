// engine: swarm (issue 13): a Swarm made here of two test daemons, the modern server as manager and
// the third server as worker (docker swarm init/join; left again afterwards). The service's tasks
// run on both nodes; the manager's proxy reaches them over the overlay network. Load goes through the
// manager's proxy during every change.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { makeCa, makeLeaf } from '../helpers/certs';
import { failures, startLoad } from '../helpers/load';
import { type TestServer, getHttpsThroughProxy, getThroughProxy, localDocker, remoteDocker, remoteDockerStatus, resetServer, resetServerAndImages, serverInputs, testServer } from '../helpers/server';

let manager: TestServer;
let worker: TestServer;
const NETWORK = 'bluegreen-swarm';
let v1Slot = '';
const HTTPS_PORT = 18444;

function swarmInputs(version: string, extra: Record<string, string> = {}): Record<string, string> {
  return serverInputs(manager, {
    engine: 'swarm',
    host: `${manager.host}:${manager.sshPort}\n${worker.host}:${worker.sshPort}`,
    port: '22',
    'known-hosts': [manager, worker].map((server) => readFileSync(server.knownHosts, 'utf8')).join(''),
    app: 'shop',
    hostname: 'shop.test',
    image: version ? `${manager.appImage}:${version}` : '',
    network: NETWORK,
    replicas: '2',
    'health-timeout': '10s',
    'health-interval': '500ms',
    // The modern server publishes 127.0.0.1:18444 to this port for its proxy's 443.
    'proxy-ports': `${manager.proxyPorts}\n${HTTPS_PORT}:443`,
    ...extra,
  });
}

const body = () => getThroughProxy(manager, 'shop.test');
const address = (server: TestServer) => localDocker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', server.container as string]).trim();
const swarmState = (server: TestServer) => remoteDocker(server, ['info', '-f', '{{.Swarm.LocalNodeState}}']).trim();

function leaveSwarm(): void {
  for (const server of [worker, manager]) if (swarmState(server) !== 'inactive') remoteDocker(server, ['swarm', 'leave', '--force']);
}

/** "IMAGE NODE" of each running task of the service, sorted. */
function tasks(): string[] {
  return remoteDocker(manager, ['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Image}} {{.Node}} {{.CurrentState}}', 'shop'])
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').slice(0, 3).join(' '))
    .sort();
}

const specOf = (path: string) => remoteDocker(manager, ['service', 'inspect', '-f', `{{json ${path}}}`, 'shop']).trim();

async function underLoad(work: () => Promise<ActionRun>) {
  const load = startLoad({ port: manager.proxyPort, hostHeader: 'shop.test', steadyWorkers: 2, slowWorkers: 1, slowMs: 1500, maxSeconds: 150 });
  try {
    return { run: await work(), samples: load.samples };
  } finally {
    await load.stop();
  }
}

beforeAll(() => {
  manager = testServer('modern');
  worker = testServer('third');
  leaveSwarm();
  for (const server of [manager, worker]) resetServerAndImages(server);
  remoteDocker(manager, ['swarm', 'init', '--advertise-addr', address(manager)]);
  const token = remoteDocker(manager, ['swarm', 'join-token', '-q', 'worker']).trim();
  remoteDocker(worker, ['swarm', 'join', '--token', token, `${address(manager)}:2377`]);
}, 120_000);

afterAll(() => {
  remoteDockerStatus(manager, ['service', 'rm', 'shop']);
  leaveSwarm();
  for (const server of [manager, worker]) resetServer(server);
}, 120_000);

describe('engine: swarm (the modern server and a second modern server)', () => {
  it('creates the service on a fresh Swarm: the image to both nodes, tasks on both, served through the proxy', async () => {
    const run = await runAction(swarmInputs('v1'));
    expect(run.code, run.stdout).toBe(0);
    expect(await body()).toBe('200 v1');
    const reference = `bluegreen/by-config:${run.outputs['image-id'].replace('sha256:', '')}`;
    expect(tasks()).toEqual([`${reference} bluegreen-test-modern-server Running`, `${reference} bluegreen-test-modern-server2 Running`]);
    // Both nodes got the image over SSH; Swarm was told about the ordering and rollback.
    expect(run.stdout).toContain(`[deploy@127.0.0.1:${worker.sshPort}] sending bluegreen-test/app:v1`);
    expect(JSON.parse(specOf('.Spec.UpdateConfig'))).toMatchObject({ Order: 'start-first', FailureAction: 'rollback', Parallelism: 1 });
    expect(JSON.parse(specOf('.Spec.EndpointSpec.Mode'))).toBe('dnsrr');
    expect(JSON.parse(specOf('.Spec.TaskTemplate.ContainerSpec.StopGracePeriod'))).toBe(10e9);
    expect(run.outputs['active-slot']).toBe(run.outputs['image-id'].slice(7, 19));
    v1Slot = run.outputs['active-slot'];
    expect(run.summary.split('\n')[0]).toBe(`## ✅ shop: switched none → ${v1Slot}`);
  }, 180_000);

  it('a new version under load: Swarm replaces the tasks one at a time, start-first, and no request fails', async () => {
    const { run, samples } = await underLoad(() => runAction(swarmInputs('v2')));
    expect(run.code, run.stdout).toBe(0);
    expect(await body()).toBe('200 v2');
    console.log(`swarm redeploy: ${samples.length} requests, ${failures(samples).length} failed`);
    expect(samples.length).toBeGreaterThan(50);
    expect(failures(samples)).toEqual([]);
    expect(samples.some((s) => s.body.includes('v2'))).toBe(true);
    expect(run.stdout).toContain('[health] Swarm: completed');
    expect(tasks().every((t) => t.startsWith(`bluegreen/by-config:${run.outputs['image-id'].slice(7)}`))).toBe(true);
  }, 240_000);

  it('a version that fails its health check is rolled back by Swarm: it never answers a request, none fails', async () => {
    const { run, samples } = await underLoad(() => runAction(swarmInputs('v3')));
    expect(run.code, run.stdout).toBe(3);
    expect(run.stdout).toMatch(/Swarm rolled the service back to [0-9a-f]{12}/);
    expect(await body()).toBe('200 v2');
    console.log(`swarm failed version: ${samples.length} requests, ${failures(samples).length} failed`);
    expect(failures(samples)).toEqual([]);
    expect(samples.filter((s) => s.body.includes('v3'))).toEqual([]);
    expect(run.outputs.result).toBe('failed');
    expect(run.summary.split('\n')[0]).toMatch(/^## ❌ shop: bluegreen-test\/app:v3 failed its health check; [0-9a-f]{12} still live$/);
  }, 300_000);

  it('a first version that fails its health check: the new service is removed, nothing was live before', async () => {
    const run = await runAction(swarmInputs('v3', { app: 'broken', hostname: 'broken.test', replicas: '1', 'health-timeout': '3s' }));
    expect(run.code, run.stdout).toBe(3);
    expect(run.stdout).toMatch(/bluegreen-test\/app:v3 did not become healthy on Swarm: task broken\.1 (complete|failed)/);
    expect(run.stdout).toContain('removed service broken; nothing was live before');
    expect(remoteDockerStatus(manager, ['service', 'inspect', 'broken']).code).not.toBe(0);
    expect(existsSync(`${manager.home}/.bluegreen/nginx/broken.conf`)).toBe(false);
  }, 180_000);

  it('a server that is no Swarm manager: said plainly, for a deploy and for the other commands', async () => {
    const classic = testServer('classic');
    const inputs = (command: string) => serverInputs(classic, { engine: 'swarm', app: 'shop', image: command === 'deploy' ? `${classic.appImage}:v1` : '', command, network: NETWORK });
    const deploy = await runAction(inputs('deploy'));
    expect(deploy.code).toBe(1);
    expect(deploy.stdout).toContain('docker node ls (is it a Swarm manager?) failed on 127.0.0.1');
    expect(deploy.stdout).not.toContain('sending bluegreen-test/app');
    const status = await runAction(inputs('status'));
    expect(status.code).toBe(1);
    expect(status.stdout).toContain('this server is not a Docker Swarm manager (swarm state: inactive false): with engine: swarm the first host must be a manager');
  }, 120_000);

  it('a node that may run the service but is not in host: refused before anything changes', async () => {
    const before = specOf('.Spec.Labels');
    const run = await runAction(swarmInputs('v1', { host: `${manager.host}:${manager.sshPort}`, 'known-hosts': readFileSync(manager.knownHosts, 'utf8') }));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('not started: Swarm may run the service on bluegreen-test-modern-server2');
    expect(run.stdout).toContain('add each node as a line of host');
    expect(specOf('.Spec.Labels')).toBe(before);
    expect(await body()).toBe('200 v2');
  }, 120_000);

  it("rollback is Swarm's own rollback, under load with no failed request", async () => {
    const { run, samples } = await underLoad(() => runAction(swarmInputs('', { command: 'rollback' })));
    expect(run.code, run.stdout).toBe(0);
    expect(await body()).toBe('200 v1');
    expect(failures(samples)).toEqual([]);
    // Swarm forgot the version before v2 when it rolled v3 back by itself: taken from the history.
    expect(run.stdout).toContain('the version live before it');
    expect(run.outputs['active-slot']).toBe(v1Slot);

    // Now Swarm remembers v2 as the previous spec: its own rollback goes back to it.
    const again = await underLoad(() => runAction(swarmInputs('', { command: 'rollback' })));
    expect(again.run.code, again.run.stdout).toBe(0);
    expect(again.run.stdout).toContain("with Swarm's rollback");
    expect(await body()).toBe('200 v2');
    console.log(`swarm rollbacks: ${samples.length} and ${again.samples.length} requests, ${failures(samples).length + failures(again.samples).length} failed`);
    expect(failures(again.samples)).toEqual([]);
  }, 300_000);

  it('env as a Docker secret: a file in the tasks, never in the service spec or the log; status lists the tasks', async () => {
    const token = 'swarm-secret-value-42';
    const run = await runAction(swarmInputs('v2', { 'swarm-env': 'secret', env: `TOKEN=${token}` }));
    expect(run.code, run.stdout).toBe(0);
    const shown = run.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));
    expect(shown.join('\n')).not.toContain(token);
    expect(run.summary).not.toContain(token);
    expect(specOf('.Spec.TaskTemplate.ContainerSpec')).not.toContain(token);
    const secretName = JSON.parse(specOf('.Spec.TaskTemplate.ContainerSpec.Secrets'))[0].SecretName as string;
    expect(secretName).toMatch(/^shop-env-[0-9a-f]{12}$/);
    for (const server of [manager, worker]) {
      for (const container of remoteDocker(server, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=shop']).split('\n').filter(Boolean)) {
        expect(remoteDocker(server, ['exec', container, 'cat', '/run/secrets/shop.env'])).toBe(`TOKEN=${token}\nPORT=8080\n`);
        expect(remoteDocker(server, ['exec', container, 'sh', '-c', 'echo "${TOKEN:-unset}"']).trim()).toBe('unset');
      }
    }

    const status = await runAction(swarmInputs('', { command: 'status' }));
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/task shop\.1 on bluegreen-test-modern-server2?: Running/);
    expect(status.stdout).toContain('service shop: 2 task(s) running');
  }, 240_000);

  it('HTTPS with an own certificate: the proxy serves the service with it, the service untouched', async () => {
    const ca = makeCa();
    const leaf = makeLeaf(ca, 'shop', ['shop.test']);
    const before = specOf('.Version');
    const run = await runAction(swarmInputs('v2', { 'swarm-env': 'secret', env: 'TOKEN=swarm-secret-value-42', tls: 'own', 'tls-certificate': leaf.cert, 'tls-key': leaf.key }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.result).toBe('unchanged');
    expect(specOf('.Version')).toBe(before);
    const answer = await getHttpsThroughProxy(HTTPS_PORT, 'shop.test', ca.cert);
    expect(answer).toMatchObject({ status: 200, body: 'v2' });
    expect(answer.cert?.issuer).toContain('bluegreen test CA');
  }, 120_000);

  it('release-command runs once, on the manager, on the service network (it reaches the live service by its name)', async () => {
    const run = await runAction(swarmInputs('v1', { 'release-command': `sh -c 'echo live answers: $(wget -q -O - http://shop:8080/version)'` }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain(`Release shop on deploy@127.0.0.1:${manager.sshPort}`);
    expect(run.stdout.split('\n').filter((line) => line.includes('the release command succeeded'))).toHaveLength(1);
    expect(JSON.parse(run.outputs.release)).toMatchObject({ ran: true, exitCode: 0, output: 'live answers: v2' });
    expect(await body()).toBe('200 v1');
    // No one-off container is left on any node.
    for (const server of [manager, worker]) expect(remoteDocker(server, ['ps', '-aq', '--filter', 'label=bluegreen.role=release']).trim()).toBe('');
  }, 180_000);

  it('remove: the service, its secrets and its proxy config go', async () => {
    const run = await runAction(swarmInputs('', { command: 'remove' }));
    expect(run.code, run.stdout).toBe(0);
    expect(remoteDockerStatus(manager, ['service', 'inspect', 'shop']).code).not.toBe(0);
    expect(remoteDocker(manager, ['secret', 'ls', '-q', '--filter', 'label=bluegreen.app=shop']).trim()).toBe('');
    expect(await body().catch((error: Error) => error.message)).not.toMatch(/v\d/);
  }, 120_000);
});
