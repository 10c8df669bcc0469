// What real web apps send through the proxy: WebSocket upgrades, streamed responses, large uploads.
import http from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { TestServer, getThroughProxy, resetServer, serverInputs, testServer } from '../helpers/server';

let server: TestServer;
const deploy = (app: string, version: string, extra: Record<string, string> = {}): Promise<ActionRun> =>
  runAction(serverInputs(server, { app, hostname: `${app}.test`, image: `${server.appImage}:${version}`, 'health-timeout': '8s', ...extra }));

/** Opens an upgraded connection through the proxy; resolves with a function that sends a line and reads the echo. */
function openUpgrade(host: string): Promise<{ exchange: (text: string) => Promise<string>; close: () => void; greeting: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.proxyPort, path: '/upgrade', headers: { Host: host, Connection: 'Upgrade', Upgrade: 'websocket' }, agent: false });
    req.on('upgrade', (_res, socket, head) => {
      let buffer = head.toString();
      let waiting: ((text: string) => void) | undefined;
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        if (waiting && buffer.includes('\n')) {
          const line = buffer.slice(0, buffer.indexOf('\n'));
          buffer = buffer.slice(buffer.indexOf('\n') + 1);
          const w = waiting;
          waiting = undefined;
          w(line);
        }
      });
      const timer = setTimeout(() => reject(new Error('no greeting')), 5000);
      const poll = setInterval(() => {
        if (buffer.includes(':')) {
          clearInterval(poll);
          clearTimeout(timer);
          const greeting = buffer.slice(0, buffer.indexOf(':'));
          buffer = buffer.slice(buffer.indexOf(':') + 1);
          resolve({
            greeting,
            exchange: (text) =>
              new Promise((res) => {
                waiting = res;
                socket.write(`${text}\n`);
              }),
            close: () => socket.destroy(),
          });
        }
      }, 20);
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** GETs a streamed response; resolves with the milliseconds until the first event and until the end. */
function timeStream(host: string, path: string): Promise<{ firstMs: number; totalMs: number; body: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let firstMs = -1;
    let body = '';
    http
      .get({ host: '127.0.0.1', port: server.proxyPort, path, headers: { Host: host }, agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => {
          if (firstMs < 0) firstMs = Date.now() - started;
          body += chunk.toString();
        });
        res.on('end', () => resolve({ firstMs, totalMs: Date.now() - started, body }));
      })
      .on('error', reject);
  });
}

function upload(host: string, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.proxyPort, method: 'POST', path: '/upload', headers: { Host: host, 'Content-Length': bytes }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body.trim().split('\n')[0]}`));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('complete HTTP through the proxy', () => {
  beforeAll(async () => {
    server = testServer();
    resetServer(server);
    expect((await deploy('web', 'v1')).code).toBe(0);
    expect((await deploy('other', 'v1')).code).toBe(0);
  }, 120_000);

  it('carries a WebSocket upgrade, held open across a switch of another app and of its own app', async () => {
    const ws = await openUpgrade('web.test');
    expect(ws.greeting).toBe('v1');
    expect(await ws.exchange('hello')).toBe('hello');
    expect((await deploy('other', 'v2')).code).toBe(0);
    expect(await ws.exchange('after other app switched')).toBe('after other app switched');
    const own = deploy('web', 'v2', { 'drain-seconds': '3' });
    await new Promise((r) => setTimeout(r, 500));
    const fresh = await until(async () => {
      const c = await openUpgrade('web.test');
      if (c.greeting === 'v2') return c;
      c.close();
      return undefined;
    });
    expect(await ws.exchange('old one still open')).toBe('old one still open'); // the open one stays on v1
    expect(await fresh.exchange('new one')).toBe('new one');
    ws.close();
    fresh.close();
    expect((await own).code).toBe(0);
  }, 120_000);

  it('streams server-sent events as they come, not held back by buffering', async () => {
    const stream = await timeStream('web.test', '/stream?n=5&ms=500');
    expect(stream.body).toContain('data: 5');
    expect(stream.totalMs).toBeGreaterThan(1900);
    expect(stream.firstMs).toBeLessThan(1000);
    // The same app with proxy-buffering: true holds the events back (what the default avoids).
    expect((await deploy('buffered', 'v1', { 'proxy-buffering': 'true' })).code).toBe(0);
    const held = await timeStream('buffered.test', '/stream?n=5&ms=500');
    expect(held.body).toContain('data: 5');
    expect(held.firstMs).toBeGreaterThan(1500);
  }, 60_000);

  it('believes a client\'s X-Forwarded-For and -Proto only from the trusted-proxies the user names', async () => {
    const claims = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7' };
    // The test traffic reaches the proxy from its Docker network's gateway (10.x, through docker-proxy).
    expect(await getWith('web.test', '/forwarded', claims)).toMatch(/^200 proto=http for=10\.\d+\.\d+\.\d+$/);
    expect((await deploy('front', 'v1', { 'trusted-proxies': '10.0.0.0/8 192.0.2.1' })).code).toBe(0);
    expect(await getWith('front.test', '/forwarded', claims)).toMatch(/^200 proto=https for=203\.0\.113\.7, 10\.\d+\.\d+\.\d+$/);
    expect(await getWith('front.test', '/forwarded', {})).toMatch(/^200 proto=http for=10\.\d+\.\d+\.\d+$/);
  }, 60_000);

  it('takes a 50 MB upload (default limit 100m) and refuses one over max-body-size with 413', async () => {
    expect(await upload('web.test', 50 * 1024 * 1024)).toBe(`200 received ${50 * 1024 * 1024}`);
    expect((await deploy('small', 'v1', { 'max-body-size': '1m' })).code).toBe(0);
    expect(await upload('small.test', 2 * 1024 * 1024)).toMatch(/^413 /);
    expect(await getThroughProxy(server, 'small.test')).toBe('200 v1');
  }, 120_000);
});

function getWith(host: string, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.proxyPort, path, headers: { Host: host, ...headers }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      })
      .on('error', reject);
  });
}

async function until<T>(make: () => Promise<T | undefined>, seconds = 20): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = await make().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}
