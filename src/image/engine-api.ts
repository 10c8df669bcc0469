// The runner's Docker, through its Engine API: only the two calls the action makes (an image's
// inspect, and its `docker save` stream), over DOCKER_HOST as the docker CLI reads it: a unix
// socket (the default), or tcp:// with TLS when DOCKER_TLS_VERIFY is set (certificates from
// DOCKER_CERT_PATH, as `docker --tlsverify` takes them).
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where the Engine API listens, and how to reach it: what node's http request needs. */
export type Endpoint = { socketPath: string } | { host: string; port: number; tls?: { ca: Buffer; cert: Buffer; key: Buffer } };

/** An answer other than 2xx: its status code and the daemon's message. */
export class EngineApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'EngineApiError';
  }
}

/** DOCKER_HOST and friends, read as the docker CLI reads them. */
export function endpointOf(env: NodeJS.ProcessEnv): Endpoint {
  const host = env.DOCKER_HOST?.trim() || 'unix:///var/run/docker.sock';
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const tcp = host.match(/^tcp:\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/);
  if (!tcp) throw new Error(`DOCKER_HOST=${host} is not supported on the runner: use unix:///path/to/docker.sock or tcp://host:port`);
  const tls = Boolean(env.DOCKER_TLS_VERIFY) && env.DOCKER_TLS_VERIFY !== '0';
  const port = tcp[2] ? Number(tcp[2]) : tls ? 2376 : 2375;
  const name = tcp[1].replace(/^\[|\]$/g, '');
  if (!tls) return { host: name, port };
  const dir = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  const file = (base: string) => readFileSync(join(dir, base));
  return { host: name, port, tls: { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') } };
}

/** A GET to the Engine API: the response when it is 2xx; an EngineApiError otherwise. */
export function engineGet(endpoint: Endpoint, path: string): Promise<IncomingMessage> {
  const options: RequestOptions = { method: 'GET', path, headers: { Host: 'docker' } };
  const send = () =>
    'socketPath' in endpoint
      ? httpRequest({ ...options, socketPath: endpoint.socketPath })
      : endpoint.tls
        ? httpsRequest({ ...options, host: endpoint.host, port: endpoint.port, ...endpoint.tls })
        : httpRequest({ ...options, host: endpoint.host, port: endpoint.port });
  return new Promise((resolve, reject) => {
    const req = send();
    req.on('error', reject);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => reject(new EngineApiError(status, errorMessage(Buffer.concat(chunks).toString('utf8'), status))));
    });
    req.end();
  });
}

/** A GET whose answer is JSON, parsed. */
export async function engineGetJson<T>(endpoint: Endpoint, path: string): Promise<T> {
  const res = await engineGet(endpoint, path);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

/** The daemon's `{"message": ...}`, or the body itself, or the status. */
export function errorMessage(body: string, status: number): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof message === 'string' && message) return message;
  } catch {
    // not JSON
  }
  return body.trim() || `HTTP ${status}`;
}
