// What real web apps send through the proxy: WebSocket upgrades, streamed responses, large uploads,
// forwarded headers and timeouts; on both test servers (nginx 1.22 and 1.30).
import http from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActionRun, runAction } from '../helpers/action-runner';
import { untilValue } from '../helpers/wait';
import { SERVER_KINDS, TestServer, getThroughProxy, resetServer, serverInputs, testServer } from '../helpers/server';

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

/** A streamed response in progress: the app version that answers it, and its end. */
interface Stream {
  version: string;
  done: Promise<{ firstMs: number; totalMs: number; body: string }>;
}

/** GETs a streamed response; resolves once its head is in, with the milliseconds until the first event and until the end to come. */
function openStream(host: string, path: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let firstMs = -1;
    let body = '';
    http
      .get({ host: '127.0.0.1', port: server.proxyPort, path, headers: { Host: host }, agent: false }, (res) => {
        const done = new Promise<{ firstMs: number; totalMs: number; body: string }>((end, fail) => {
          res.on('data', (chunk: Buffer) => {
            if (firstMs < 0) firstMs = Date.now() - started;
            body += chunk.toString();
          });
          res.on('end', () => end({ firstMs, totalMs: Date.now() - started, body }));
          res.on('error', fail);
        });
        resolve({ version: String(res.headers['x-app-version']), done });
      })
      .on('error', reject);
  });
}

const timeStream = async (host: string, path: string) => (await openStream(host, path)).done;

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

describe.each(SERVER_KINDS)('complete HTTP through the proxy (%s server)', (kind) => {
  beforeAll(async () => {
    server = testServer(kind);
    resetServer(server);
    expect((await deploy('web', 'v1')).code).toBe(0);
    expect((await deploy('other', 'v1')).code).toBe(0);
  }, 120_000);

  it('carries a WebSocket and a server-sent-events stream across a switch of another app and of their own app', async () => {
    const ws = await openUpgrade('web.test');
    expect(ws.greeting).toBe('v1');
    expect(await ws.exchange('hello')).toBe('hello');
    const events = '/stream?n=16&ms=500'; // 8 s of events
    const sse = await openStream('web.test', events);
    expect(sse.version).toBe('v1');
    expect((await deploy('other', 'v2')).code).toBe(0);
    expect(await ws.exchange('after other app switched')).toBe('after other app switched');
    const own = deploy('web', 'v2', { 'drain-seconds': '15' });
    await new Promise((r) => setTimeout(r, 500));
    const fresh = await untilValue('an upgraded connection reaching v2', 20, async () => {
      const c = await openUpgrade('web.test');
      if (c.greeting === 'v2') return c;
      c.close();
      return undefined;
    });
    // nginx's old workers may accept a connection or two while they wind down (they answer from v1, which
    // still runs); moments later every new one reaches the new slot.
    const freshSse = await untilValue('a new stream reaching v2', 2, async () => {
      const s = await openStream('web.test', '/stream?n=2&ms=100');
      return s.version === 'v2' ? s : undefined;
    });
    expect(await ws.exchange('old one still open')).toBe('old one still open'); // the open one stays on v1
    expect(await fresh.exchange('new one')).toBe('new one');
    ws.close();
    fresh.close();
    const oldStream = await sse.done; // the open stream finishes on the old slot, every event in
    expect(oldStream.body).toContain('data: 16');
    expect((await freshSse.done).body).toContain('data: 2');
    const run = await own;
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/drained after \d+ms/); // the stream, not the drain ceiling, set the wait
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

  it("passes X-Forwarded-Host, and believes a client's X-Forwarded-For and -Proto only from the trusted-proxies the user names", async () => {
    const claims = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Host': 'evil.test' };
    // The test traffic reaches the proxy from a private address (through docker-proxy).
    const ip = String.raw`(?:10|172|192)\.\d+\.\d+\.\d+`;
    expect(await getWith('web.test', '/forwarded', claims)).toMatch(new RegExp(`^200 proto=http for=${ip} host=web\\.test$`));
    expect((await deploy('front', 'v1', { 'trusted-proxies': '10.0.0.0/8 172.16.0.0/12 192.168.0.0/16' })).code).toBe(0);
    expect(await getWith('front.test', '/forwarded', claims)).toMatch(new RegExp(`^200 proto=https for=203\\.0\\.113\\.7, ${ip} host=front\\.test$`));
    expect(await getWith('front.test', '/forwarded', {})).toMatch(new RegExp(`^200 proto=http for=${ip} host=front\\.test$`));
  }, 60_000);

  it('closes a request the app does not answer within proxy-timeout with 504, and waits for a slower one by default', async () => {
    expect((await deploy('impatient', 'v1', { 'proxy-timeout': '2s' })).code).toBe(0);
    const started = Date.now();
    expect(await getWith('impatient.test', '/slow?ms=5000', {})).toMatch(/^504 /);
    expect(Date.now() - started).toBeGreaterThan(1900);
    expect(Date.now() - started).toBeLessThan(4500);
    expect(await getWith('web.test', '/slow?ms=3000', {})).toBe('200 v2');
  }, 60_000);

  it('opens a new connection to the app per request, so no request waits on a kept-alive connection to a container that is gone', async () => {
    const accepted = async () => Number((await getWith('web.test', '/connections', {})).match(/^200 accepted (\d+)$/)?.[1]);
    const before = await accepted();
    for (let i = 0; i < 30; i++) expect(await getWith('web.test', '/version', {})).toBe('200 v2');
    expect((await accepted()) - before).toBeGreaterThanOrEqual(30); // the test app would keep them open if asked
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
