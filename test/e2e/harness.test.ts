import { execSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { TestServer, localDocker, remoteDocker, remoteDockerStatus, resetServer, testServer } from '../helpers/server';

let server: TestServer;

describe('the test server itself', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it('is a second Docker daemon: an image travels there only by docker save | ssh docker load, and answers through the proxy', async () => {
    const image = `${server.appImage}:v1`;
    const id = localDocker(['image', 'inspect', '-f', '{{.Id}}', image]).trim();
    remoteDockerStatus(server, ['image', 'rm', '-f', image]);
    expect(remoteDockerStatus(server, ['image', 'inspect', image]).code).not.toBe(0);

    const ssh = `ssh -i ${server.key} -p ${server.sshPort} -o BatchMode=yes -o UserKnownHostsFile=${server.knownHosts} -o StrictHostKeyChecking=yes ${server.user}@${server.host}`;
    execSync(`docker save ${image} | ${ssh} docker load`, { stdio: 'pipe' });
    expect(remoteDocker(server, ['image', 'inspect', '-f', '{{.Id}}', image]).trim()).toBe(id);
    expect(execSync(`${ssh} 'echo $0; id -un'`, { encoding: 'utf8' }).trim().split('\n')).toEqual(['bash', server.user]);

    remoteDocker(server, ['network', 'create', 'harness']);
    try {
      remoteDocker(server, ['run', '-d', '--name', 'harness-app', '--network', 'harness', image]);
      const conf = 'server { listen 80; location / { proxy_pass http://harness-app:8080; } }';
      remoteDocker(server, ['run', '-d', '--name', 'harness-proxy', '--network', 'harness', '-p', `127.0.0.1:${server.proxyPort}:80`, server.proxyImage]);
      remoteDocker(server, ['exec', '-i', 'harness-proxy', 'sh', '-c', 'cat > /etc/nginx/conf.d/default.conf'], conf);
      remoteDocker(server, ['exec', 'harness-proxy', 'nginx', '-s', 'reload']);
      let body = '';
      for (let i = 0; i < 50 && body !== 'v1'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        body = await fetch(`http://127.0.0.1:${server.proxyPort}/`)
          .then(
            (r) => (r.ok ? r.text() : ''),
            () => '',
          )
          .then((t) => t.trim());
      }
      expect(body).toBe('v1');
    } finally {
      remoteDockerStatus(server, ['rm', '-f', 'harness-app', 'harness-proxy']);
      remoteDockerStatus(server, ['network', 'rm', 'harness']);
    }
  }, 60_000);

  it('has test app versions that share a large base layer and differ in a small top layer', () => {
    const layers = (v: string) => JSON.parse(localDocker(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', `${server.appImage}:${v}`])) as string[];
    const [v1, v2] = [layers('v1'), layers('v2')];
    expect(v1.slice(0, -1)).toEqual(v2.slice(0, -1));
    expect(v1.at(-1)).not.toBe(v2.at(-1));
    const size = Number(localDocker(['image', 'inspect', '-f', '{{.Size}}', `${server.appImage}:v1`]));
    expect(size).toBeGreaterThan(30 * 1024 * 1024);
  });

  it('runs an app that starts with 503, then answers its version, and drains on SIGTERM', async () => {
    const name = 'harness-drain';
    remoteDockerStatus(server, ['rm', '-f', name]);
    remoteDocker(server, ['run', '-d', '--name', name, '-e', 'READY_AFTER=1', '-p', '127.0.0.1:18099:8080', `${server.appImage}:v1`]);
    try {
      const url = 'http://127.0.0.1:18099';
      let first = 0;
      for (let i = 0; i < 30 && first === 0; i++) {
        first = await fetch(url).then(
          (r) => r.status,
          () => 0,
        );
        if (first === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(first).toBe(503);
      await new Promise((r) => setTimeout(r, 1200));
      expect(await fetch(url).then((r) => r.text())).toBe('v1\n');
      const slow = fetch(`${url}/slow?ms=1500`).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 200));
      remoteDocker(server, ['stop', '-t', '10', name]);
      expect(await slow).toBe('v1\n');
      expect(remoteDocker(server, ['inspect', '-f', '{{.State.ExitCode}}', name]).trim()).toBe('0');
    } finally {
      remoteDockerStatus(server, ['rm', '-f', name]);
    }
  }, 30_000);
});
