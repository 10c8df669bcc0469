import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineApiError, endpointOf, engineGet, engineGetJson, errorMessage } from '../../../src/image/engine-api';
import { imagePath } from '../../../src/image/local';

describe('endpointOf', () => {
  const certs = mkdtempSync(join(tmpdir(), 'bg-certs-'));
  for (const file of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, file), file);

  it.each([
    [{}, { socketPath: '/var/run/docker.sock' }],
    [{ DOCKER_HOST: '' }, { socketPath: '/var/run/docker.sock' }],
    [{ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }, { socketPath: '/run/user/1000/docker.sock' }],
    [{ DOCKER_HOST: 'tcp://10.0.0.5:2375' }, { host: '10.0.0.5', port: 2375 }],
    [{ DOCKER_HOST: 'tcp://docker' }, { host: 'docker', port: 2375 }],
    [{ DOCKER_HOST: 'tcp://[::1]:2375/' }, { host: '::1', port: 2375 }],
    [
      { DOCKER_HOST: 'tcp://docker', DOCKER_TLS_VERIFY: '0' },
      { host: 'docker', port: 2375 },
    ],
  ])('reads %j as %j', (env, endpoint) => expect(endpointOf(env)).toEqual(endpoint));

  it('takes TLS certificates from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set', () => {
    const endpoint = endpointOf({ DOCKER_HOST: 'tcp://docker', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
    expect(endpoint).toMatchObject({ host: 'docker', port: 2376 });
    expect('tls' in endpoint && endpoint.tls?.cert.toString()).toBe('cert.pem');
  });

  it.each(['ssh://me@docker', 'npipe:////./pipe/docker_engine', 'docker:2375'])('refuses DOCKER_HOST=%s, saying what works', (host) => {
    expect(() => endpointOf({ DOCKER_HOST: host })).toThrow(/is not supported on the runner: use unix:\/\/\/path\/to\/docker.sock or tcp:\/\/host:port/);
  });
});

describe('engineGet over a unix socket', () => {
  let server: Server;
  const socketPath = join(mkdtempSync(join(tmpdir(), 'bg-api-')), 'api.sock');
  const paths: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      if (req.url === '/images/shop:v1/json') return res.end('{"Id":"sha256:abc"}');
      if (req.url === '/images/missing/json') {
        res.statusCode = 404;
        return res.end('{"message":"No such image: missing"}');
      }
      res.statusCode = 500;
      res.end('boom');
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('parses a JSON answer', async () => {
    expect(await engineGetJson({ socketPath }, '/images/shop:v1/json')).toEqual({ Id: 'sha256:abc' });
  });

  it.each([
    ['/images/missing/json', 404, 'No such image: missing'],
    ['/other', 500, 'boom'],
  ])('turns %s into an EngineApiError %i with the daemon message', async (path, status, message) => {
    const error = await engineGet({ socketPath }, path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineApiError);
    expect(error).toMatchObject({ statusCode: status, message });
  });

  it('rejects when nothing listens', async () => {
    await expect(engineGet({ socketPath: `${socketPath}.none` }, '/x')).rejects.toThrow(/ENOENT/);
  });
});

describe('errorMessage and imagePath', () => {
  it.each([
    ['{"message":"no"}', 404, 'no'],
    ['{"other":1}', 500, '{"other":1}'],
    ['', 502, 'HTTP 502'],
  ])('errorMessage(%j, %i) is %j', (body, status, message) => expect(errorMessage(body, status)).toBe(message));

  it.each([
    ['shop', 'shop'],
    ['ghcr.io/acme/shop:v1', 'ghcr.io/acme/shop:v1'],
    ['localhost:5000/shop:v1', 'localhost:5000/shop:v1'],
    ['shop@sha256:0123', 'shop@sha256:0123'],
    ['sha256:2f02973e85fb', 'sha256:2f02973e85fb'],
    ['a b?c#d', 'a%20b%3Fc%23d'],
  ])('imagePath(%s) is %s', (reference, path) => expect(imagePath(reference)).toBe(path));
});
