// Maintenance mode and canonical-host (issue 23), on the classic and the Docker 28 server: command
// maintenance makes the proxy answer every host name of the app with 503, Retry-After and the page
// while another app serves under load; a deploy during maintenance switches behind the page; command
// live brings the app back. canonical-host redirects the app's other names to it with 308.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { SERVER_KINDS, type TestServer, getThroughProxy, resetServer, serverInputs, testServer } from '../helpers/server';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request through the proxy with a Host header: status, headers and body. */
function ask(server: TestServer, host: string, path = '/', method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.proxyPort, path, method, headers: { Host: host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(method === 'POST' ? 'a=1' : undefined);
  });
}

describe.each(SERVER_KINDS)('maintenance and canonical-host (%s server)', (kind) => {
  const server = testServer(kind);

  it('maintenance answers every host name of the app with 503 and the page while another app serves; a deploy switches behind it; live brings it back', async () => {
    resetServer(server);
    const base = { app: 'mnt', hostname: 'mnt.test www.mnt.test' };
    const inputs = (extra: Record<string, string>) => serverInputs(server, { app: base.app, hostname: base.hostname, 'health-timeout': '20s', ...extra });
    expect((await runAction(serverInputs(server, { app: 'bystander', hostname: 'bystander.test', image: `${server.appImage}:v1` }))).code).toBe(0);
    expect((await runAction(inputs({ image: `${server.appImage}:v1` }))).code).toBe(0);
    expect(await getThroughProxy(server, 'mnt.test')).toBe('200 v1');

    const load = startLoad({ port: server.proxyPort, hostHeader: 'bystander.test', steadyWorkers: 2, maxSeconds: 240 });
    try {
      const page = '<h1>Back soon</h1>\n<p>Migrating "orders"; $(id) `id` ünïcødé</p>';
      const down = await runAction(inputs({ command: 'maintenance', image: '', 'maintenance-page': page }));
      expect(down.code, down.stdout).toBe(0);
      expect(down.outputs.maintenance).toBe('true');
      expect(down.summary).toContain('in maintenance');
      for (const [host, method] of [
        ['mnt.test', 'GET'],
        ['www.mnt.test', 'GET'],
        ['mnt.test', 'POST'],
      ]) {
        const answer = await ask(server, host, '/orders?x=1', method);
        expect(answer.status, `${method} ${host}`).toBe(503);
        expect(answer.headers['retry-after']).toBe('120');
        expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(answer.body.trim()).toBe(page);
      }
      expect(await getThroughProxy(server, 'bystander.test')).toBe('200 v1');

      const deployed = await runAction(inputs({ image: `${server.appImage}:v2` }));
      expect(deployed.code, deployed.stdout).toBe(0);
      expect(deployed.stdout).toContain('mnt is in maintenance: green is live behind the maintenance page until command: live');
      expect(deployed.summary).toContain('**Maintenance**');
      expect((await ask(server, 'mnt.test')).status).toBe(503);
      const status = await runAction(inputs({ command: 'status', image: '' }));
      expect(status.outputs.maintenance).toBe('true');

      const up = await runAction(inputs({ command: 'live', image: '' }));
      expect(up.code, up.stdout).toBe(0);
      expect(up.outputs.maintenance).toBe('false');
      expect(await getThroughProxy(server, 'mnt.test')).toBe('200 v2');
      expect(await getThroughProxy(server, 'www.mnt.test')).toBe('200 v2');
      const again = await runAction(inputs({ command: 'live', image: '' }));
      expect(again.code, again.stdout).toBe(0);
      expect(again.stdout).toContain('mnt is not in maintenance; nothing to change');
    } finally {
      await load.stop();
    }
    const samples = load.samples;
    console.log(`maintenance (${kind}): the other app got ${samples.length} requests, ${failures(samples).length} failed`);
    expect(samples.length).toBeGreaterThan(100);
    expect(failures(samples)).toEqual([]);
    resetServer(server);
  }, 300_000);

  it('canonical-host: the other host names get a 308 to it, path and query kept', async () => {
    resetServer(server);
    const run = await runAction(serverInputs(server, { app: 'can', hostname: 'can.test www.can.test', 'canonical-host': 'can.test', image: `${server.appImage}:v1` }));
    expect(run.code, run.stdout).toBe(0);
    expect(await getThroughProxy(server, 'can.test')).toBe('200 v1');
    const redirected = await ask(server, 'www.can.test', '/shop/item?id=7');
    expect(redirected.status).toBe(308);
    expect(redirected.headers.location).toBe('http://can.test/shop/item?id=7');
    const wrong = await runAction(serverInputs(server, { app: 'can2', hostname: 'a.test b.test', 'canonical-host': 'c.test', image: `${server.appImage}:v1` }));
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain("Input 'canonical-host'");
    resetServer(server);
  }, 120_000);
});
