// Several hosts in one run (issue 13): the classic server, the modern one and a third (modern) as
// three hosts, each under load through its own proxy. A fault on the second host is injected for
// real: its new container is killed as it starts.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../helpers/action-runner';
import { failures, startLoad } from '../helpers/load';
import { type TestServer, getThroughProxy, remoteDocker, resetServer, resetServerAndImages, serverInputs, testServer } from '../helpers/server';
import { until } from '../helpers/wait';

let classic: TestServer;
let modern: TestServer;
let third: TestServer;
let all: TestServer[];
const label = (server: TestServer) => `deploy@127.0.0.1:${server.sshPort}`;

/** The inputs for every host: one line each, a known_hosts line for each. */
function fleetInputs(version: string, extra: Record<string, string> = {}): Record<string, string> {
  return serverInputs(classic, {
    host: `${classic.host}:${classic.sshPort}\n${modern.user}@${modern.host}:${modern.sshPort}\n${third.host}:${third.sshPort}`,
    port: '22',
    'known-hosts': all.map((server) => readFileSync(server.knownHosts, 'utf8')).join(''),
    app: 'shop',
    hostname: 'shop.test',
    image: `${classic.appImage}:${version}`,
    'health-timeout': '8s',
    ...extra,
  });
}

const bodyOn = (server: TestServer) => getThroughProxy(server, 'shop.test');

/** Kills every container of `app` that starts on the server meanwhile (bounded: stops by itself after `seconds`). */
function killOnStart(server: TestServer, app: string, seconds: number): ChildProcess {
  const now = Math.floor(Date.now() / 1000);
  const events = spawn(
    'docker',
    ['events', '--filter', 'event=start', '--filter', `label=bluegreen.app=${app}`, '--format', '{{.Actor.ID}}', '--since', String(now), '--until', String(now + seconds)],
    {
      env: { ...process.env, DOCKER_HOST: server.remoteDockerHost },
    },
  );
  events.stdout.setEncoding('utf8');
  events.stdout.on('data', (chunk: string) => {
    for (const id of chunk.split('\n').filter(Boolean)) {
      try {
        execFileSync('docker', ['kill', id], { env: { ...process.env, DOCKER_HOST: server.remoteDockerHost }, stdio: 'ignore' });
      } catch {
        /* gone already */
      }
    }
  });
  return events;
}

/** Runs `work` while every host's proxy is under load (bounded: 2 steady + 1 slow worker each, 120 s at most). */
async function underLoad(work: () => Promise<ActionRun>): Promise<{ run: ActionRun; loads: Array<ReturnType<typeof startLoad>> }> {
  const loads = all.map((server) => startLoad({ port: server.proxyPort, hostHeader: 'shop.test', steadyWorkers: 2, slowWorkers: 1, slowMs: 1500, maxSeconds: 120 }));
  try {
    return { run: await work(), loads };
  } finally {
    for (const load of loads) await load.stop();
  }
}

/** How far apart the hosts' visitors first got `body`, in ms. */
const firstAnswerSpread = (loads: Array<ReturnType<typeof startLoad>>, body: string) => {
  const firsts = loads.map((load) => load.samples.filter((x) => x.body === body).reduce((first, x) => Math.min(first, x.end), Infinity));
  return Math.max(...firsts) - Math.min(...firsts);
};

const loadText = (loads: Array<ReturnType<typeof startLoad>>) => loads.map((l) => `${l.samples.length} requests, ${failures(l.samples).length} failed`).join('; ');

beforeAll(async () => {
  classic = testServer('classic');
  modern = testServer('modern');
  third = testServer('third');
  all = [classic, modern, third];
  for (const server of all) resetServerAndImages(server);
  // Each server's proxy made by a one-host deploy with its own proxy-ports, as a user's servers would be.
  for (const server of all) {
    const first = await runAction(serverInputs(server, { app: 'shop', hostname: 'shop.test', image: `${server.appImage}:v1`, 'health-timeout': '8s' }));
    expect(first.code, first.stdout).toBe(0);
  }
}, 180_000);

afterAll(() => {
  for (const server of all) resetServer(server);
});

describe('several hosts, rolling', () => {
  it('sends the image to all at once and switches one host after the other, losing no request on any', async () => {
    const { run, loads } = await underLoad(() => runAction(fleetInputs('v2')));
    expect(run.code, run.stdout).toBe(0);
    for (const server of all) expect(await bodyOn(server)).toBe('200 v2');
    console.log(`rolling deploy to 3 hosts: first v2 answers within ${firstAnswerSpread(loads, 'v2')} ms; ${loadText(loads)}`);
    for (const load of loads) {
      expect(load.samples.length).toBeGreaterThan(20);
      expect(failures(load.samples)).toEqual([]);
    }
    // Each host gets only what it lacks: the version's layer, not the 30 MB it shares with v1.
    for (const server of all) {
      expect(run.stdout).toContain(`[${label(server)}] 127.0.0.1 already has 4 of 5 layers: leaving them out`);
      expect(run.stdout).toContain(`[${label(server)}] sending bluegreen-test/app:v2`);
    }
    for (const h of JSON.parse(run.outputs.hosts)) expect(h.bytesSent).toBeLessThan(1024 * 1024);
    // One host after the other: each host's script starts only after the one before switched.
    const lines = run.stdout.split('\n');
    const switchedAt = (server: TestServer) => lines.findIndex((l) => l.startsWith(`[${label(server)}] [switch] proxy switched`));
    const startedAt = (server: TestServer) => lines.findIndex((l) => l.startsWith(`[${label(server)}] [`));
    expect(switchedAt(classic)).toBeGreaterThan(-1);
    expect(startedAt(modern)).toBeGreaterThan(switchedAt(classic));
    expect(startedAt(third)).toBeGreaterThan(switchedAt(modern));

    expect(run.summary.split('\n')[0]).toBe('## ✅ shop: switched on 3 hosts');
    expect(run.outputs.result).toBe('switched');
    expect(JSON.parse(run.outputs.hosts).map((h: { host: string; result: string }) => [h.host, h.result])).toEqual(all.map((server) => [label(server), 'switched']));
  }, 180_000);

  it('the new version failing on the second host: the first is switched back, the third untouched, no request fails on any', async () => {
    const killer = killOnStart(modern, 'shop', 90);
    const { run, loads } = await underLoad(() => runAction(fleetInputs('v1'))).finally(() => killer.kill());
    expect(run.code, run.stdout).not.toBe(0);
    expect(run.summary.split('\n')[0]).toBe(`## ❌ shop: deploy failed on ${label(modern)}; switched back: ${label(classic)}; not started: ${label(third)}`);
    for (const server of all) expect(await bodyOn(server)).toBe('200 v2');
    expect(run.stdout).not.toContain(`[${label(third)}] [`); // its script never ran
    console.log(`failure on the second of 3 hosts: ${loadText(loads)}`);
    for (const load of loads) expect(failures(load.samples)).toEqual([]);
    expect(JSON.parse(run.outputs.hosts).map((h: { result: string }) => h.result)).toEqual(['switched-back', 'failed', 'not-started']);
  }, 180_000);

  it('a host unreachable at the start: nothing changes anywhere', async () => {
    const run = await runAction(fleetInputs('v1', { host: `${classic.host}:${classic.sshPort}\n127.0.0.1:1`, 'known-hosts': readFileSync(classic.knownHosts, 'utf8') }));
    expect(run.code).toBe(1);
    expect(run.summary.split('\n')[0]).toBe(`## ❌ shop: deploy failed on deploy@127.0.0.1:1; not started: ${label(classic)}`);
    expect(run.stdout).not.toContain('sending');
    expect(await bodyOn(classic)).toBe('200 v2');
  }, 60_000);

  it('status and rollback work across the hosts', async () => {
    const status = await runAction(fleetInputs('', { command: 'status', image: '' }));
    expect(status.code, status.stdout).toBe(0);
    expect(status.summary.split('\n')[0]).toBe('## ℹ️ shop: status of 3 hosts');
    const rollback = await runAction(fleetInputs('', { command: 'rollback', image: '' }));
    expect(rollback.code, rollback.stdout).toBe(0);
    expect(rollback.summary.split('\n')[0]).toBe('## ✅ shop: rolled back on 3 hosts');
    for (const server of all) expect(await bodyOn(server)).toBe('200 v1');
  }, 120_000);
});

describe('several hosts, all at once', () => {
  it('starts and checks the new version everywhere, then switches all hosts together, losing no request', async () => {
    const { run, loads } = await underLoad(() => runAction(fleetInputs('v2', { rollout: 'all-at-once' })));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('every host is healthy: switching all 3');
    for (const server of all) {
      expect(run.stdout).toContain(`[${label(server)}] [wait] healthy; waiting for the runner's word to switch`);
      expect(await bodyOn(server)).toBe('200 v2');
    }
    // Together: no host switches before every host is healthy and the runner has given the word.
    const lines = run.stdout.split('\n');
    const at = (server: TestServer, text: string) => lines.findIndex((l) => l.startsWith(`[${label(server)}] ${text}`));
    const healthy = all.map((server) => at(server, "[wait] healthy; waiting for the runner's word"));
    const switched = all.map((server) => at(server, '[switch] proxy switched'));
    const go = lines.findIndex((l) => l.includes('every host is healthy: switching all 3'));
    expect([...healthy, ...switched, go]).not.toContain(-1);
    expect(Math.max(...healthy)).toBeLessThan(Math.min(...switched));
    expect(go).toBeLessThan(Math.min(...switched));
    // Seen from the visitors: one after the other would spread the first v2 answers by two whole host
    // deploys (each >= the app's 1 s start, ~5 s in the rolling test); together they are within a
    // reload of each other, plus what the two-lane suite's load adds (1.1-2.2 s seen in CI).
    const spread = firstAnswerSpread(loads, 'v2');
    console.log(`all at once on 3 hosts: first v2 answers within ${spread} ms; ${loadText(loads)}`);
    expect(spread).toBeLessThan(3000);
    for (const load of loads) expect(failures(load.samples)).toEqual([]);
  }, 180_000);

  it('one host failing before the switch calls it off everywhere: no host switches, no request fails', async () => {
    const killer = killOnStart(modern, 'shop', 90);
    const { run, loads } = await underLoad(() => runAction(fleetInputs('v1', { rollout: 'all-at-once' }))).finally(() => killer.kill());
    expect(run.code, run.stdout).not.toBe(0);
    expect(run.summary.split('\n')[0]).toBe(`## ❌ shop: deploy failed on ${label(modern)}; called off, not switched: ${label(classic)}, ${label(third)}`);
    for (const server of all) expect(await bodyOn(server)).toBe('200 v2');
    for (const load of loads) {
      expect(load.samples.some((x) => x.body === 'v1')).toBe(false); // v1 never got traffic anywhere
      expect(failures(load.samples)).toEqual([]);
    }
    expect(JSON.parse(run.outputs.hosts).map((h: { result: string }) => h.result)).toEqual(['called-off', 'failed', 'called-off']);
  }, 180_000);
});

describe('through a jump host (proxy-jump)', () => {
  // The bastion of test/server/up.sh: 127.0.0.1:BG_JUMP_PORT, forwards only to the modern server's
  // sshd, accepts only the key the servers refuse, and logs every forwarded channel.
  const env = Object.fromEntries(
    readFileSync('/run/bluegreen-test/env', 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^'(.*)'$/, '$1')]),
  );
  const jumpLog = '/run/bluegreen-test/jump-sshd.log';
  const viaJump = (extra: Record<string, string> = {}) =>
    serverInputs(modern, {
      app: 'shop',
      hostname: 'shop.test',
      image: `${modern.appImage}:v2`,
      'health-timeout': '8s',
      'proxy-jump': `deploy@127.0.0.1:${env.BG_JUMP_PORT}`,
      'proxy-jump-key': readFileSync(env.BG_KEY_UNAUTHORIZED, 'utf8'),
      'proxy-jump-known-hosts': readFileSync(env.BG_JUMP_KNOWN_HOSTS, 'utf8'),
      ...extra,
    });

  it('deploys through the bastion with its own key and pinned host key; the bastion forwarded the connection', async () => {
    const before = readFileSync(jumpLog, 'utf8').length;
    const run = await runAction(viaJump({ image: `${modern.appImage}:v1` }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('proxy switched');
    expect(await bodyOn(modern)).toBe('200 v1');
    const logged = readFileSync(jumpLog, 'utf8').slice(before);
    expect(logged).toMatch(/Accepted publickey for deploy from 127\.0\.0\.1 .*ED25519/);
    expect(logged).toContain(`target 127.0.0.1 port ${modern.sshPort}`);
    // The jump key is a secret like ssh-key.
    const keyLine = readFileSync(env.BG_KEY_UNAUTHORIZED, 'utf8').split('\n')[1];
    expect(
      run.stdout
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain(keyLine);
  }, 120_000);

  it('refuses a bastion whose host key is not the pinned one, and one that refuses the key, changing nothing', async () => {
    const impostor = `[127.0.0.1]:${env.BG_JUMP_PORT} ${readFileSync(env.BG_FAKE_HOST_PUB, 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
    const wrongKey = await runAction(viaJump({ 'proxy-jump-known-hosts': impostor }));
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain(`refusing to connect to 127.0.0.1:${env.BG_JUMP_PORT}`);
    const refused = await runAction(viaJump({ 'proxy-jump-key': '' }));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`deploy@127.0.0.1:${env.BG_JUMP_PORT} refused the SSH key`);
    expect(await bodyOn(modern)).toBe('200 v1');
  }, 120_000);
});

describe('two runs of one app on several hosts at once (issue 27)', () => {
  it('a push and a re-run started together: one waits for the whole rollout of the other, every host ends on one version', async () => {
    const live = (await bodyOn(classic)).replace('200 ', '');
    const other = live === 'v1' ? 'v2' : 'v1';
    const started = Date.now();
    const [a, b] = await Promise.all([runAction(fleetInputs(other, { rollout: 'all-at-once' })), runAction(fleetInputs(live, { rollout: 'all-at-once' }))]);
    const seconds = (Date.now() - started) / 1000;
    expect(a.code, a.stdout).toBe(0);
    expect(b.code, b.stdout).toBe(0);
    const waited = [a, b].filter((run) => run.stdout.includes('holds the lock; waiting'));
    expect(waited).toHaveLength(1);
    const last = waited[0] === a ? other : live;
    console.log(`two all-at-once runs at once: ${seconds.toFixed(1)} s, the run of ${last} waited, ended on ${last}`);
    for (const server of all) expect(await bodyOn(server)).toBe(`200 ${last}`);
    expect(seconds).toBeLessThan(120); // no deadlock: far below lock-timeout (5 min)
  }, 240_000);
});

describe('a rolling run cancelled after its first host switched (issue 27)', () => {
  it('SIGINT (then SIGTERM and SIGKILL as GitHub sends them): no further host starts, the first is switched back, summary and outputs say so, no request fails', async () => {
    const live = (await bodyOn(classic)).replace('200 ', '');
    const other = live === 'v1' ? 'v2' : 'v1';
    let child: ChildProcess | undefined;
    let signalledAt = 0;
    let exitedAt = 0;
    const timers: NodeJS.Timeout[] = [];
    // GitHub's cancel: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that (each only while it runs).
    const send = (signal: NodeJS.Signals) => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    const { run, loads } = await underLoad(() =>
      runAction(fleetInputs(other), {
        onStart: (c) => {
          child = c;
          c.on('exit', () => (exitedAt = Date.now()));
        },
        onLine: (line) => {
          if (signalledAt === 0 && line.startsWith(`[${label(classic)}] [switch] proxy switched`)) {
            signalledAt = Date.now();
            send('SIGINT');
            timers.push(
              setTimeout(() => send('SIGTERM'), 7500),
              setTimeout(() => send('SIGKILL'), 10_000),
            );
          }
        },
      }).finally(() => timers.forEach(clearTimeout)),
    );
    const graceUsed = (exitedAt - signalledAt) / 1000;
    expect(signalledAt, run.stdout).toBeGreaterThan(0);
    const headline = run.summary.split('\n')[0];
    console.log(`cancelled after the first host switched: ${run.code === null ? 'killed' : 'ended'} ${graceUsed.toFixed(1)} s after SIGINT; ${loadText(loads)}`);
    if (run.code === null) {
      // Killed while switching back: the summary written 6 s after the signal says so; the server
      // finishes the switch back by itself.
      expect(headline).toMatch(/^## ❌ shop: deploy cancelled \(SIGINT; still under way when the runner's grace period ran short\)/);
      await until('the first host switched back by its server', 30, async () => (await bodyOn(classic)) === `200 ${live}`);
    } else {
      expect(run.code, run.stdout).toBe(1);
      expect(headline).toMatch(new RegExp(`^## ❌ shop: deploy cancelled \\(SIGINT\\);.* switched back: ${label(classic)}; not started: .*${label(third)}$`));
      expect(JSON.parse(run.outputs.hosts)[0].result).toBe('switched-back');
    }
    for (const server of all) expect(await bodyOn(server)).toBe(`200 ${live}`);
    expect(run.outputs.result).toBe('failed');
    const results = JSON.parse(run.outputs.hosts).map((h: { result: string }) => h.result);
    expect(['called-off', 'not-started']).toContain(results[1]);
    expect(results[2]).toBe('not-started');
    expect(run.stdout).not.toContain(`[${label(third)}] [`); // its script never ran
    for (const load of loads) expect(failures(load.samples)).toEqual([]);
  }, 180_000);
});

describe('release-command on several hosts (issue 22)', () => {
  it('runs exactly once, on the first host, before any host starts the new version', async () => {
    const count = (server: TestServer) => remoteDocker(server, ['run', '--rm', '-v', 'fleet-release:/d', `${server.appImage}:v1`, 'sh', '-c', 'cat /d/count 2>/dev/null | wc -l']).trim();
    for (const server of all) remoteDocker(server, ['volume', 'rm', '-f', 'fleet-release']); // a volume a run before this one left
    const { run, loads } = await underLoad(() => runAction(fleetInputs('v2', { volumes: 'fleet-release:/data/state', 'release-command': `sh -c 'echo ran >> /data/state/count'` })));
    expect(run.code, run.stdout).toBe(0);
    expect(all.map(count)).toEqual(['1', '0', '0']);
    const lines = run.stdout.split('\n');
    const released = lines.findIndex((line) => line.includes('the release command succeeded'));
    expect(released).toBeGreaterThan(-1);
    for (const server of all) expect(lines.findIndex((line) => line.startsWith(`[${label(server)}] [start]`))).toBeGreaterThan(released);
    for (const load of loads) expect(failures(load.samples)).toEqual([]);
  }, 240_000);
});

describe('rollout: canary on several hosts (issue 25)', () => {
  // The app's image fails every second request of / (FAIL_EVERY=2) but passes /health.
  const canary = (extra: Record<string, string>) => fleetInputs('v2', { rollout: 'canary', 'canary-percent': '50', 'canary-seconds': '8s', 'health-path': '/health', ...extra });

  it('a bad version is tried on the first host only and reverted there: the others are never started', async () => {
    const before = await Promise.all(all.map(bodyOn));
    const { run, loads } = await underLoad(() => runAction(canary({ env: 'FAIL_EVERY=2' })));
    expect(run.code, run.stdout).toBe(3);
    expect(run.stdout).toContain(`[${label(classic)}] [canary] canary: 50% of the clients go to`);
    expect(run.stdout).toMatch(/canary reverted: \d+ of its \d+ requests failed/);
    const results = JSON.parse(run.outputs.hosts).map((h: { result: string }) => h.result);
    expect(results).toEqual(['failed', 'not-started', 'not-started']);
    expect(run.stdout).not.toContain(`[${label(modern)}] [`); // no script ran there
    expect(await Promise.all(all.map(bodyOn))).toEqual(before);
    // Only the first host's visitors met the bad version, and only its share of them.
    expect(failures(loads[0].samples).length).toBeGreaterThan(0);
    expect(failures(loads[1].samples)).toEqual([]);
    expect(failures(loads[2].samples)).toEqual([]);
    console.log(`canary on 3 hosts, reverted on the first: ${loadText(loads)}`);
  }, 180_000);

  it('a good version is promoted on the first host, then the others deploy as rolling, with no canary', async () => {
    const { run, loads } = await underLoad(() => runAction(canary({ env: 'CANARY_TRIED=1' })));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout.match(/\[canary\] canary: 50% of the clients/g)).toHaveLength(1);
    expect(run.stdout).toContain(`[${label(classic)}] [canary] canary: `);
    const lines = run.stdout.split('\n');
    const promoted = lines.findIndex((line) => line.includes('[canary] canary: ') && line.includes(' promoted: '));
    expect(promoted).toBeGreaterThan(-1);
    for (const server of [modern, third]) expect(lines.findIndex((line) => line.startsWith(`[${label(server)}] [start]`))).toBeGreaterThan(promoted);
    expect((JSON.parse(run.outputs.trials) as Array<{ decision: string }>)[0].decision).toBe('promoted');
    for (const load of loads) expect(failures(load.samples)).toEqual([]);
    console.log(`canary on 3 hosts, promoted then rolled: ${loadText(loads)}`);
  }, 180_000);
});
