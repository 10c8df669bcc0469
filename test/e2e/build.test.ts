import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { TestServer, localDocker, remoteDocker, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;

describe('building the image on the runner', () => {
  beforeAll(() => {
    server = testServer();
    resetServer(server);
  });

  it('builds from the context when it has a Dockerfile (build: auto), with build args and target, then deploys it', async () => {
    const context = mkdtempSync(join(tmpdir(), 'bluegreen-ctx-'));
    writeFileSync(join(context, 'Dockerfile'), `FROM ${server.appImage}:v1 AS base\nARG VERSION\nRUN echo "$VERSION" > /version\nFROM base AS final\nRUN echo never-built > /version\n`);
    const tag = `bluegreen-test/built:${Date.now()}`;
    const run = await runAction(serverInputs(server, { app: 'built', image: tag, build: 'auto', context, 'build-args': 'VERSION=v7-built', target: 'base' }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain(`::group::Build ${tag}`);
    expect(localDocker(['image', 'inspect', '-f', '{{.Id}}', tag]).trim()).toBe(run.outputs['image-id']);
    expect(remoteDocker(server, ['image', 'inspect', '-f', '{{.Id}}', tag]).trim()).toBe(run.outputs['image-id']);
    expect(await fetch(`http://127.0.0.1:${server.proxyPort}/`).then((r) => r.text())).toBe('v7-built\n');
    expect(run.summary).toMatch(/\| \*\*Phases\*\* \| build \d/);
    localDocker(['image', 'rm', tag]);
  }, 120_000);

  it('says clearly when a build fails, and when build: false finds no image', async () => {
    const context = mkdtempSync(join(tmpdir(), 'bluegreen-ctx-'));
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY missing-file /x\n');
    const failed = await runAction(serverInputs(server, { app: 'built', image: 'bluegreen-test/broken:1', build: 'true', context }));
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/::error::built on 127\.0\.0\.1: docker build of bluegreen-test\/broken:1 failed \(exit code \d+\); see the build output above/);

    const missing = await runAction(serverInputs(server, { app: 'built', image: 'bluegreen-test/not-there:1', build: 'false' }));
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('image bluegreen-test/not-there:1 is not on the runner: build it in an earlier step, or set build: true');
    expect(await fetch(`http://127.0.0.1:${server.proxyPort}/`).then((r) => r.text())).toBe('v7-built\n');
  }, 60_000);
});
