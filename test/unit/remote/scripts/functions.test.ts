// The server script's functions, called one by one: the rendered script sourced with BG_SOURCE_ONLY=1 defines them and runs nothing.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../../src/inputs/config';
import { LABEL_PREFIX, RESULT_VERSION, SCRIPT_EXIT } from '../../../../src/remote/result';
import { SCRIPT_FILES, engineFiles, proxyProgram, renderDeployScript } from '../../../../src/remote/script';
import { readerFor } from '../../../helpers/action-inputs';
import { baseInputs } from '../../../helpers/fixtures';
import { makeCa, makeLeaf } from '../../../helpers/certs';
import { shellQuote } from '../../../../src/remote/shell';
import { runAfterScript } from '../../../helpers/source-script';
import { X509Certificate } from 'node:crypto';

/** Runs shell code after the script for these inputs, with its functions defined; returns stdout. HOME: a state directory to share between calls. */
function callScript(given: Record<string, string>, code: string, sharedHome?: string): { status: number | null; stdout: string } {
  const config = readConfig(readerFor({ ...baseInputs(), ...given }));
  const script = renderDeployScript({
    command: 'deploy',
    locks: true,
    deploy: config.deploy,
    image: config.image,
    imageId: 'sha256:' + 'ab'.repeat(32),
    serverImageId: '',
    gitSha: '0123456789abcdef',
    runUrl: '',
    canary: config.canary,
    bake: config.bake,
  });
  const home = sharedHome ?? mkdtempSync(join(tmpdir(), 'bg-fn-')); // the state directory (~/.bluegreen) lives under it
  try {
    const r = runAfterScript(script, code, { home });
    return { status: r.status, stdout: r.stdout };
  } finally {
    if (!sharedHome) rmSync(home, { recursive: true, force: true });
  }
}

/** Writes the app's proxy files for SLOT and the server blocks, as point_proxy_at does; prints the app's config, its locations, the server blocks and its redirects. */
const writeProxyFiles = (slot = 'green') =>
  `mkdir -p "$CONF_DIR" && write_proxy_config ${slot} && why='' && { sync_hosts_conf why || { echo "$why"; exit 1; }; } && cat "$CONF_FILE" "$ROUTE_FILE" "$HOSTS_CONF" && if [[ -f $REDIRECT_FILE ]]; then cat "$REDIRECT_FILE"; fi`;

describe('nginx_id: an app name as part of an nginx variable or upstream name', () => {
  const cases: Array<[string, string]> = [
    ['shop', 'shop'],
    ['my-app', 'my_happ'],
    ['my_app', 'my__app'],
    ['my.app', 'my_dapp'],
    ['a_h', 'a__h'],
    ['a-h', 'a_hh'],
  ];
  it.each(cases)('%s -> %s', (app, id) => {
    expect(callScript({ app }, 'nginx_id').stdout).toBe(id);
  });
  it('never gives two app names one id', () => {
    const names = ['a-b', 'a_b', 'a.b', 'a__b', 'a_hb', 'a-hb', 'a_db', 'a.db', 'a-_b', 'a_-b'];
    const ids = names.map((app) => callScript({ app }, 'nginx_id').stdout);
    expect(new Set(ids).size).toBe(names.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9_]+$/);
  });
});

describe('render_proxy_config', () => {
  const conf = callScript({ app: 'my-app', hostname: 'shop.example.com' }, writeProxyFiles()).stdout;

  it('names the live slot on its first line (recorded_slot reads it)', () => {
    expect(conf.split('\n')[0]).toBe('# bluegreen: app=my-app slot=green container=my-app-green');
    expect(callScript({ app: 'my-app' }, `mkdir -p "$CONF_DIR" && render_proxy_config green my-app-green >"$CONF_FILE" && recorded_slot`).stdout).toBe('green\n');
  });

  it('resolves the container per request through a variable, with no upstream block to hold an address', () => {
    expect(conf).not.toMatch(/^upstream /m);
    expect(conf).toContain('    resolver 127.0.0.11 valid=1s ipv6=off;\n    resolver_timeout 2s;\n');
    expect(conf).toContain('    set $bluegreen_upstream my-app-green:8080;\n    proxy_pass http://$bluegreen_upstream;\n');
  });

  it('passes an upgrade on and asks the app to close any other connection', () => {
    expect(conf).toContain('map $http_upgrade $bluegreen_connection_my_happ {\n    default upgrade;\n    "" close;\n}\n');
    expect(conf).toContain('    proxy_set_header Connection $bluegreen_connection_my_happ;\n');
  });

  it("names its variables after the app, so two apps' configs load side by side", () => {
    for (const name of ['trusted', 'proto', 'for', 'connection']) expect(conf).toContain(`$bluegreen_${name}_my_happ`);
    expect(conf).not.toMatch(/\$bluegreen_(trusted|proto|for|connection)_(?!my_happ\b)/);
  });
});

describe("render_proxy_config with TLS: HTTP/2 as the proxy's nginx wants it", () => {
  const acme = { app: 'my-app', hostname: 'shop.example.com', tls: 'acme', 'acme-email': 'ops@example.com' };
  const withCertificate = (http2Directive: 0 | 1) =>
    callScript(acme, `mkdir -p "$LIVE_TLS" && touch "$LIVE_TLS/fullchain.pem" "$LIVE_TLS/key.pem" && HTTP2_DIRECTIVE=${http2Directive} && ${writeProxyFiles()}`).stdout;
  const cases: Array<[string, 0 | 1, string]> = [
    ['nginx >= 1.25.1: "http2 on;"', 1, 'server {\n    listen 443 ssl;\n    http2 on;\n    server_name shop.example.com;\n'],
    ['older nginx: "listen ... http2"', 0, 'server {\n    listen 443 ssl http2;\n    server_name shop.example.com;\n'],
  ];
  it.each(cases)('%s', (_name, directive, block) => {
    const conf = withCertificate(directive);
    expect(conf).toContain(block);
    expect(conf).not.toContain("$'");
    expect(conf.match(/http2/g)?.length).toBe(1);
  });

  it("takes its certificate from the proxy's pair file (tls-pairs.sh), never names the key directly", () => {
    const conf = withCertificate(1);
    expect(conf).toContain('    include /tmp/bluegreen-tls-pairs/my-app.conf;\n');
    expect(conf).not.toContain('ssl_certificate');
  });
});

describe('failure handling (issue 11, defects 1 and 2)', () => {
  const results = (out: string) => out.split('\n').filter((l) => l === '::bluegreen-result-begin::').length;

  it('a command failing inside $(…) is reported once, by the main shell, naming the command', () => {
    const r = callScript({ app: 'shop' }, ['mkdir -p "$APP_DIR"', 'FAIL_NOTE=$(mktemp)', 'arm_err_trap', 'PHASE=prune', 'x=$(echo before; false; echo after)', 'echo "not reached: $x"'].join('\n'));
    expect(r.status).toBe(1);
    expect(results(r.stdout)).toBe(1);
    expect(r.stdout).not.toContain('not reached');
    const result = JSON.parse(r.stdout.split('::bluegreen-result-begin::\n')[1].split('\n')[0]);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 1, failedPhase: 'prune' });
    expect(result.error).toMatch(/^unexpected failure \(exit 1\) at deploy\.sh line \d+: false$/);
  });

  it('fail inside $(…) hands its own code and message to the main shell', () => {
    const r = callScript({ app: 'shop' }, ['mkdir -p "$APP_DIR"', 'FAIL_NOTE=$(mktemp)', 'arm_err_trap', 'x=$(fail 2 "the server said no")'].join('\n'));
    expect(r.status).toBe(2);
    expect(results(r.stdout)).toBe(1);
    expect(r.stdout).toContain('"error":"the server said no"');
  });

  it('a step after the switch that fails is a warning: the run goes on and stays switched', () => {
    const r = callScript(
      { app: 'shop' },
      ['FAIL_NOTE=$(mktemp)', 'arm_err_trap', 'OUTCOME=switched', 'broken() { echo step-started; false; echo step-went-on; }', 'after_switch prune broken', 'echo "after: $? $OUTCOME"'].join('\n'),
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('step-started');
    expect(r.stdout).not.toContain('step-went-on'); // errexit holds inside the step
    expect(r.stdout).toMatch(/\[prune\] warning: prune did not finish \(unexpected failure \(exit 1\) at deploy\.sh line \d+: false\); the new version is live/);
    expect(r.stdout).toContain('after: 0 switched');
    expect(results(r.stdout)).toBe(0);
  });

  it('a full disk while writing the proxy config leaves the old config whole and says so', () => {
    const r = callScript(
      { app: 'shop', hostname: 'shop.test' },
      [
        'mkdir -p "$CONF_DIR"',
        'printf "# bluegreen: app=shop slot=blue container=shop-blue\\nold config\\n}\\n" >"$CONF_FILE"',
        'ln -s /dev/full "$CONF_FILE.new"', // every write to it fails with ENOSPC
        'status=0; why=""; point_proxy_at green why || status=$?; if ((status == 0)); then echo "pointed"; else echo "refused ($status): $why"; fi',
        'cat "$CONF_FILE"',
        'ls "$CONF_DIR"',
      ].join('\n'),
    );
    expect(r.stdout).toContain('refused (2): cannot write'); // 2: nginx never saw it
    expect(r.stdout).toContain('is the disk full?');
    expect(r.stdout).toContain('# bluegreen: app=shop slot=blue container=shop-blue\nold config\n}\n');
    expect(r.stdout).not.toContain('shop.conf.prev');
    expect(r.stdout).not.toContain('pointed');
  });
});

describe('json_str', () => {
  const cases: Array<[string, string]> = [
    ['plain', 'plain'],
    ['say "hi"', 'say "hi"'],
    ['back\\slash', 'back\\slash'],
    ['two\nlines\n', 'two\nlines\n'],
    ['tab\tcr\r', 'tab\tcr\r'],
    ['bell\u0007 and esc\u001b[0m', 'bell and esc[0m'], // other control characters are dropped
    ['ünïcødé ✓', 'ünïcødé ✓'],
    ['', ''],
  ];
  it.each(cases)('%j', (text, expected) => {
    const out = callScript({}, `json_str ${shellWord(text)}`).stdout;
    expect(JSON.parse(out)).toBe(expected);
  });

  it('escapes a quote-heavy 1 MB log in well under a second (was quadratic: ~10 s)', () => {
    const started = Date.now();
    const out = callScript({}, `s=$(head -c 1000000 /dev/zero | tr '\\0' '"'); json_str "$s" | wc -c`).stdout;
    expect(Number(out.trim())).toBe(2_000_002);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

/** A bash word that stands for text exactly ($'…' quoting). */
function shellWord(text: string): string {
  return `$'${[...Buffer.from(text, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}'`;
}

describe('one contract between TypeScript and bash (issue 11)', () => {
  const body = [...SCRIPT_FILES, ...engineFiles('docker'), 'engine-compose.sh', ...engineFiles('swarm')]
    .map((f) => readFileSync(join(__dirname, '../../../../src/remote/scripts', f), 'utf8'))
    .join('\n');

  it('the script takes exit codes, outcome names and the label prefix from result.ts, never its own', () => {
    expect(body).not.toMatch(/\bfail [0-9]/);
    expect(body).not.toMatch(/OUTCOME=(switched|unchanged|removed|failed)\b/);
    expect(body).not.toMatch(/== (switched|unchanged|removed|failed)\b/);
    expect(body.split('\n').filter((l) => !l.startsWith('#') && /\bbluegreen\./.test(l))).toEqual([]);
    expect(body).not.toContain('::bluegreen-result');
  });

  it('gets them as parameters with the values TypeScript uses', () => {
    const out = callScript({}, 'echo "$BG_EXIT_UNHEALTHY $BG_EXIT_NOTHING_TO_ROLL_BACK $BG_OUTCOME_SWITCHED $LABEL $BG_RESULT_VERSION"; label_of image-id').stdout;
    expect(out).toBe(`${SCRIPT_EXIT.unhealthy} ${SCRIPT_EXIT.nothingToRollBack} switched ${LABEL_PREFIX} ${RESULT_VERSION}\n(index .Config.Labels "${LABEL_PREFIX}.image-id")`);
  });
});

describe('verify_through_proxy: the check after the switch (issue 11, defect 3)', () => {
  // docker exec runs its command here, with a wget that answers the slot probe with the given
  // text and the health probe with 200.
  const probe = (answer: string) =>
    callScript(
      { app: 'shop', hostname: 'shop.test' },
      `mkdir -p "$HOME/bin" && cat >"$HOME/bin/wget" <<'FAKE'
#!/bin/sh
case "$*" in
  *__bluegreen/slot*) printf '%s\\n' ${JSON.stringify(answer)} ;;
  *) echo '  HTTP/1.1 200 OK' >&2 ;;
esac
FAKE
printf '#!/bin/sh\\nshift\\nexec "$@"\\n' >"$HOME/bin/timeout"
chmod +x "$HOME/bin/wget" "$HOME/bin/timeout"; PATH=$HOME/bin:$PATH; hash -r
docker() { shift 2; "$@"; }; sleep() { :; }
CANDIDATE_SLOT=green; if verify_through_proxy; then echo verified; else echo refused; fi`,
    ).stdout;

  it.each([
    ['shop green', 'verified'],
    ['other green', 'refused'], // the right colour of another app's server block is a wrong route
    ['shop blue', 'refused'],
    ['', 'refused'],
  ])('a route to %j is %s', (answer, verdict) => {
    const out = probe(answer);
    expect(out.trim().split('\n').at(-1)).toBe(verdict);
    if (verdict === 'refused') expect(out).toContain(`(it routes to ${answer || 'nothing we know'})`);
    else expect(out).toContain('the proxy serves green for shop.test (check 1: 200)');
  });
});

describe('images_in_use while containers come and go (issue 11, defect 2)', () => {
  // A docker on the PATH (xargs runs it, not a shell function): c2 was removed between ps and inspect.
  const withDocker = (ps: string, code: string, given: Record<string, string> = {}) =>
    callScript(
      given,
      `mkdir -p "$HOME/bin" && cat >"$HOME/bin/docker" <<'FAKE'
#!/bin/bash
case $1 in
  ps) ${ps} ;;
  inspect) shift 3; rc=0; for id in "$@"; do if [[ $id == c2 ]]; then echo "Error: No such object: c2" >&2; rc=1; else echo "sha256:image-of-$id"; fi; done; exit $rc ;;
  image) echo "docker image $*" >>"$HOME/image-calls" ;;
esac
FAKE
chmod +x "$HOME/bin/docker"; PATH=$HOME/bin:$PATH; hash -r
${code}`,
    );

  it('counts the containers that are still there, and is not a failure', () => {
    const r = withDocker(`printf '%s\\n' c1 c2 c3`, 'images_in_use; echo "status $?"');
    expect(r.stdout).toBe('sha256:image-of-c1\nsha256:image-of-c3\nstatus 0\n');
  });

  it('fails when the containers cannot be listed, and pruning then removes nothing', () => {
    expect(withDocker('exit 1', 'if images_in_use; then echo listed; else echo "status $?"; fi').stdout).toBe('status 1\n');
    const pruned = withDocker(
      'exit 1',
      `mkdir -p "$APP_DIR"; printf 'sha256:old%s\\n' 1 2 3 4 5 >"$APP_DIR/images"; prune_images; echo "status $?"; cat "$HOME/image-calls" 2>/dev/null || true; wc -l <"$APP_DIR/images"`,
      { 'keep-images': '1' },
    ).stdout;
    expect(pruned).toContain('warning: cannot list the containers, so no image is pruned this time');
    expect(pruned).not.toContain('docker image rm');
    expect(pruned.trim().split('\n').slice(-2)).toEqual(['status 0', '5']);
  });
});

describe('docker_error: what a failed docker command said, in one line', () => {
  const cases: Array<[string, string, string]> = [
    ['Docker 28', "docker: Error response from daemon: No such image: nginx:1\n\nRun 'docker run --help' for more information", 'Error response from daemon: No such image: nginx:1'],
    [
      'Docker 20.10',
      'docker: Error response from daemon: Conflict. The container name "/x" is already in use.\nSee \'docker run --help\'.',
      'Error response from daemon: Conflict. The container name "/x" is already in use.',
    ],
    ['one line', 'Error: No such container: x', 'Error: No such container: x'],
  ];
  it.each(cases)('%s', (_name, output, said) => {
    const quoted = `'${output.replace(/'/g, "'\\''")}'`; // newlines and all, as $(docker ...) captured them
    expect(callScript({ app: 'shop' }, `docker_error ${quoted}`).stdout).toBe(said);
  });
});

describe('engine: swarm, the server functions', () => {
  const swarm = { engine: 'swarm', hostname: 'shop.example.com', 'health-path': '/health', 'container-port': '8080' };
  it.each([
    ['', 'mode=0400'],
    ['root', 'mode=0400'],
    ['1000', 'uid=1000,gid=1000,mode=0400'],
    ['1000:2000', 'uid=1000,gid=2000,mode=0400'],
    ['node', 'mode=0444'],
  ])('mounts the env secret readable by the image user %j: %s', (user, options) => {
    const out = callScript({ ...swarm, 'swarm-env': 'secret', env: 'A=1' }, `secret_mount_spec '${user}'`).stdout;
    expect(out).toMatch(new RegExp(`^source=shop-env-[0-9a-f]{12},target=shop\\.env,${options}$`));
  });
  it('health_command: wget or curl from the image, the health path with the app host name; a wanted status is compared', () => {
    expect(callScript(swarm, 'health_command').stdout).toBe(
      "if command -v wget >/dev/null 2>&1; then wget -q -O /dev/null --header 'Host: shop.example.com' 'http://127.0.0.1:8080/health'; else curl -fsS -o /dev/null -H 'Host: shop.example.com' 'http://127.0.0.1:8080/health'; fi",
    );
    expect(callScript({ ...swarm, 'health-status': '204' }, 'health_command').stdout).toBe(
      "if command -v wget >/dev/null 2>&1; then wget -q -S -O /dev/null --header 'Host: shop.example.com' 'http://127.0.0.1:8080/health' 2>&1 | grep -q \"HTTP/1.[01] 204 \"; else [ \"$(curl -s -o /dev/null -w \"%{http_code}\" -H 'Host: shop.example.com' 'http://127.0.0.1:8080/health')\" = 204 ]; fi",
    );
    // A quote in the health path stays data in the task's sh.
    expect(callScript({ ...swarm, 'health-path': "/h'x" }, 'health_command').stdout).toContain("'http://127.0.0.1:8080/h'\\''x'");
  });

  it.each([
    ['data:/data', 'type=volume,source=data,target=/data'],
    ['/srv/x:/x:ro', 'type=bind,source=/srv/x,target=/x,readonly'],
    ['/srv/y:/y:rw', 'type=bind,source=/srv/y,target=/y'],
  ])('mount_spec %s -> %s', (volume, mount) => {
    expect(callScript(swarm, `mount_spec '${volume}'`).stdout).toBe(mount);
  });

  it('mount_spec refuses volume options a Swarm mount cannot take', () => {
    const r = callScript(swarm, "mount_spec '/srv/z:/z:z' || echo refused");
    expect(r.stdout).toContain('a Swarm mount takes only :ro or :rw');
  });

  it('version_before: the version live before the given one, from the history, when its tag is still here', () => {
    const id = (c: string) => 'sha256:' + c.repeat(64);
    const line = (image: string, from: string, to: string, outcome = 'switched') =>
      `{"time":"t","command":"deploy","outcome":"${outcome}","image":"${image}","imageId":"${id(to[0])}","from":${from ? `"${from}"` : 'null'},"to":"${to}","gitSha":null,"runUrl":null,"error":null}`;
    const history = [line('app:v1', '', '111111111111'), line('app:v2', '111111111111', '222222222222'), line('app:v3', '222222222222', '222222222222', 'failed')].join('\n');
    // A stand-in docker that lists the config tags on this manager.
    const code = (tags: string) => `docker() { printf '%s\\n' ${tags}; }; mkdir -p "$APP_DIR"; printf '%s\\n' '${history}' >"$APP_DIR/history.jsonl"; version_before 222222222222`;
    expect(callScript(swarm, code(`${'1'.repeat(64)} ${'2'.repeat(64)}`)).stdout).toBe(`${id('1')} app:v1`);
    expect(callScript(swarm, code('2'.repeat(64))).stdout).toBe(''); // v1's tag is gone from the manager
    expect(callScript(swarm, code('1'.repeat(64)).replace('version_before 222222222222', 'version_before 111111111111')).stdout).toBe(''); // nothing before v1
  });
});

describe("cert_days_left: a certificate's end read on the server without openssl", () => {
  const ca = makeCa('days left CA');
  it.each([
    ['valid 90 days, from yesterday', { days: 90 }, 89],
    ['valid 10 days, from yesterday', { days: 10 }, 9],
    ['expired 5 days ago', { startDaysAgo: 35, days: 30 }, -5],
  ])('%s', (_what, options, days) => {
    const leaf = makeLeaf(ca, `d${days}`, ['days.example.com'], options);
    const out = callScript({}, `cert_days_left ${shellQuote(leaf.certPath)}`).stdout;
    expect(Math.abs(Number(out) - days)).toBeLessThanOrEqual(1);
    const end = new X509Certificate(leaf.cert).validTo;
    expect(Number(callScript({}, `cert_not_after ${shellQuote(leaf.certPath)}`).stdout)).toBe(Date.parse(end) / 1000);
  });
  it('is empty for a file that holds no certificate', () => {
    expect(callScript({}, `cert_days_left /nonexistent; printf 'x'; printf 'not a pem' >"$HOME/f"; cert_days_left "$HOME/f"`).stdout).toBe('x');
  });
});

describe('cert_dns_names and cert_covers: which host names a certificate on the server serves', () => {
  const ca = makeCa('names CA');
  it('reads the DNS names of the subjectAltName', () => {
    const leaf = makeLeaf(ca, 'names', ['shop.example.com', '*.preview.example.com', 'a-very-long-label-to-make-the-extension-longer-than-127-bytes.example.com', 'www.example.com']);
    expect(callScript({}, `cert_dns_names ${shellQuote(leaf.certPath)}`).stdout).toBe(
      'shop.example.com\n*.preview.example.com\na-very-long-label-to-make-the-extension-longer-than-127-bytes.example.com\nwww.example.com\n',
    );
  });
  it.each([
    ['shop.example.com', true],
    ['pr-7.preview.example.com', true],
    ['*.preview.example.com', true],
    ['a.b.preview.example.com', false],
    ['preview.example.com', false],
    ['other.example.com', false],
  ])('%s covered: %s', (host, covered) => {
    const names = 'shop.example.com\n*.preview.example.com';
    expect(callScript({}, `cert_covers ${shellQuote(names)} ${shellQuote(host)} && echo yes || echo no`).stdout).toBe(covered ? 'yes\n' : 'no\n');
  });
});

describe("hop_base: each app's loopback port pair for long-lived requests", () => {
  it("is kept in the app's config, and moves to the next free pair when another app has it", () => {
    const out = callScript(
      { app: 'shop' },
      [
        'mkdir -p "$CONF_DIR"',
        'first=$(hop_base)',
        'printf "# bluegreen: app=other slot=blue container=x\\n# bluegreen-hop-ports: %s\\n" "$first" >"$CONF_DIR/other.conf"',
        'second=$(hop_base)',
        'write_proxy_config green',
        'kept=$(hop_base)',
        'echo "$first $second $kept $(hop_port blue) $(hop_port green)"',
        'grep -c "listen 127.0.0.1:$((second + 1));" "$CONF_FILE"',
        'grep -c "proxy_pass http://127.0.0.1:$((second + 1));" "$ROUTE_FILE"',
      ].join('\n'),
    )
      .stdout.trim()
      .split('\n');
    const [first, second, kept, blue, green] = out[0].split(' ').map(Number);
    expect(first).toBeGreaterThanOrEqual(30000);
    expect(first).toBeLessThan(58000);
    expect(first % 2).toBe(0);
    expect(second).toBe(first + 2);
    expect([kept, blue, green]).toEqual([second, second, second + 1]);
    expect(out.slice(1)).toEqual(['1', '1']); // one hop server; the one location routes long-lived requests to it
  });
});

describe('the result, with either engine', () => {
  it.each([
    ['docker', {}],
    ['swarm', { engine: 'swarm' }],
  ] as const)('render_result writes one JSON object between the markers (engine %s)', (_engine, given) => {
    const out = callScript(given, 'render_result');
    expect(out.status).toBe(0);
    const [, json] = out.stdout.trim().split('\n');
    expect(JSON.parse(json)).toMatchObject({ app: 'shop', outcome: 'failed', drain: null, logs: null });
  });
});

describe("proxy_run_args: the proxy container's command", () => {
  it('is proxy/start.sh, whole, as the one argument after -c', () => {
    const out = callScript({}, `args=(); while IFS= read -r -d '' a; do args+=("$a"); done < <(proxy_run_args); printf '%s' "\${args[-5]}|\${args[-4]}|\${args[-3]}"`);
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(`-c|${proxyProgram('start')}|/etc/nginx/bluegreen-tls/reload`);
  });

  it('is the command proxies of earlier versions run: its checksum (label bluegreen.start) unchanged, so none is replaced', () => {
    expect(callScript({}, 'printf %s "$PROXY_START_ID"').stdout).toBe('1862854353');
  });
});

describe('fail_unless_pointed: what a proxy change that did not happen means for the run', () => {
  it.each([
    [0, null, 'went on'],
    [2, 'the config was not written', null],
    [1, 'nginx refused it', null],
  ])('status %i', (status, error, after) => {
    const r = callScript({ app: 'shop' }, `mkdir -p "$APP_DIR"; fail_unless_pointed ${status} 'the config was not written' 'nginx refused it'; echo 'went on'`);
    if (after) expect(r.stdout).toContain(after);
    else expect(r.stdout).not.toContain('went on');
    expect(r.status).toBe(error ? SCRIPT_EXIT.switchUndone : 0);
    if (error) expect(r.stdout).toContain(`"error":"${error}"`);
  });
});

describe("a version's labels and how the result reads them back, one definition for both engines", () => {
  const l = LABEL_PREFIX;
  it('live_template: the Go template of the result\'s "live", for a container or a service', () => {
    expect(callScript({}, `live_template .Name '{{.State.Running}}' .Config.Labels`).stdout).toBe(
      `{"container":{{json .Name}},"running":{{.State.Running}},"imageId":{{json (index .Config.Labels "${l}.image-id")}},"image":{{json (index .Config.Labels "${l}.image")}},` +
        `"gitSha":{{json (index .Config.Labels "${l}.git-sha")}},"runUrl":{{json (index .Config.Labels "${l}.run-url")}},"deployedAt":{{json (index .Config.Labels "${l}.deployed-at")}}}`,
    );
  });

  it('label_args (engine docker): the version labels, its slot and its state-dir', () => {
    const out = callScript({ app: 'shop' }, 'label_args green').stdout.trim().split('\n');
    const labels = out.filter((_, i) => i % 2 === 1).map((kv) => kv.split('=')[0]);
    expect(out.filter((_, i) => i % 2 === 0).every((flag) => flag === '--label')).toBe(true);
    expect(labels.sort()).toEqual(['app', 'config', 'deployed-at', 'git-sha', 'image', 'image-id', 'run-url', 'slot', 'state-dir'].map((k) => `${l}.${k}`));
    expect(out).toContain(`${l}.slot=green`);
    expect(out).toContain(`${l}.image-id=sha256:${'ab'.repeat(32)}`);
  });
});

describe('service_options (engine swarm): the same version labels on the service', () => {
  it.each([
    ['', '--label'],
    ['-add', '--label-add'],
  ])("ADD '%s'", (add, flag) => {
    const out = callScript({ app: 'shop', engine: 'swarm' }, `PATH=/nonexistent; service_options '${add}'`).stdout.trim().split('\n');
    const labels = out.flatMap((line, i) => (line === flag ? [out[i + 1].split('=')[0]] : []));
    expect(labels.sort()).toEqual(['app', 'config', 'deployed-at', 'git-sha', 'image', 'image-id', 'run-url'].map((k) => `${LABEL_PREFIX}.${k}`));
    expect(out).toContain(`--container-label${add}`);
  });
});

describe('names_version: what rollback-to may name a version by (issue 22)', () => {
  const id = 'sha256:' + '3f2c1a9b8d7e'.padEnd(64, '0');
  const serverId = 'sha256:' + 'c0de'.padEnd(64, '1');
  const sha = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
  const names = ` shop:v41 ${sha} https://github.com/acme/shop/actions/runs/123 `;
  const cases: Array<[string, boolean]> = [
    [id, true],
    ['3f2c1a9b8d7e', true], // 12 hex digits of the image ID
    ['3f2c1a9b8d7', false], // 11: too short to be taken for an ID (nor a commit: none starts so)
    ['c0de11111111', true], // the server's own ID (containerd store)
    ['shop:v41', true],
    ['shop:v4', false],
    ['a1b2c3d', true], // 7 digits of the commit
    ['a1b2c3', false],
    [sha, true],
    ['https://github.com/acme/shop/actions/runs/123', true],
    ['123', true],
    ['12', false], // not run 123
    ['1234', false],
  ];
  it.each(cases)('%s: %s', (name, named) => {
    const code = `declare -A VERSION_NAMES=([${shellQuote(id)}]=${shellQuote(names)}); names_version ${shellQuote(name)} ${shellQuote(id)} ${shellQuote(serverId)} && echo yes || echo no`;
    expect(callScript({}, code).stdout.trim()).toBe(named ? 'yes' : 'no');
  });
});

describe('is_healthy_answer: one health try, HTTP or health-command (issue 23)', () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['200', {}, true],
    ['302', {}, true],
    ['503', {}, false],
    ['204', { 'health-status': '204' }, true],
    ['200', { 'health-status': '204' }, false],
    ['exit:0 ok', {}, true],
    ['exit:0', {}, true],
    ['exit:01 x', {}, false],
    ['exit:3 schema missing', {}, false],
    ['error:no answer within 5s', {}, false],
  ];
  it.each(cases)('%s with %o: %s', (answer, given, healthy) => {
    expect(callScript(given, `is_healthy_answer ${shellQuote(answer)} && echo yes || echo no`).stdout.trim()).toBe(healthy ? 'yes' : 'no');
  });
});

describe('status_of: the last HTTP status in what wget -S printed, else why there is none', () => {
  const cases: Array<[string, string]> = [
    ['  HTTP/1.1 200 OK\n  Content-Type: text/plain', '200'],
    ['  HTTP/1.1 301 Moved Permanently\n  Location: /x\n  HTTP/1.1 503 Service Unavailable\nwget: server returned error: HTTP/1.1 503 Service Unavailable', '503'],
    ['HTTP/1.0 204 No Content', '204'],
    ["wget: bad address 'shop-blue:8080'", "error:wget: bad address 'shop-blue:8080'"],
    ["Connecting to x\nwget: can't connect to remote host: Connection refused", "error:wget: can't connect to remote host: Connection refused"],
    ['', 'error:no answer within 5s'],
  ];
  it.each(cases)('%j: %s', (out, want) => {
    expect(callScript({}, `status_of "$(printf '%b' ${shellQuote(out)})"`).stdout.trim()).toBe(want);
  });
});

describe("workers_of_slot: a slot's workers from one listing of the app's", () => {
  const list = 'blue shop-blue-web-2\ngreen shop-green-web-1\nblue shop-blue-web-1\nblue shop-blue-mail-1.kept\n green\n';
  const cases: Array<[string, string]> = [
    ['blue', 'shop-blue-web-1 shop-blue-web-2'],
    ['blue kept', 'shop-blue-mail-1.kept'],
    ['green', 'shop-green-web-1'],
    ['green kept', ''],
  ];
  it.each(cases)('%s: %s', (args, want) => {
    expect(callScript({ app: 'shop' }, `workers_of_slot "$(printf '%b' ${shellQuote(list)})" ${args} | paste -sd ' '`).stdout.trim()).toBe(want);
  });
});

describe("slot_facts' answer: the live container's labels and the names' owners from one docker call", () => {
  // As docker container inspect prints it for the names that exist: a foreign container has no app label.
  const facts = '/shop-green|shop|true sha256:11 cfg1\n/shop-blue-kept|shop|false sha256:00 cfg0\n/shop-blue|other||\n';
  const labels: Array<[string, string]> = [
    ['shop-green', 'true sha256:11 cfg1 (0)'],
    ['shop-blue', ' (0)'],
    ['shop-green-kept', ' (1)'],
  ];
  it.each(labels)('labels_in_facts %s: %s', (name, want) => {
    const r = callScript({ app: 'shop' }, `labels_in_facts "$(printf '%b' ${shellQuote(facts)})" ${name} got && s=0 || s=$?; printf '%s (%s)' "\${got:-}" "$s"`);
    expect(r.stdout).toBe(want);
  });
  it('owners_in_facts: what owners_of answers, so owner_in reads it the same way', () => {
    const owners = callScript({ app: 'shop' }, `owners_in_facts "$(printf '%b' ${shellQuote(facts)})"`).stdout;
    expect(owners).toBe('/shop-green shop\n/shop-blue-kept shop\n/shop-blue other\n');
    const r = callScript({ app: 'shop' }, `o=$(printf '%b' ${shellQuote(owners)}); owner_in "$o" shop-blue-kept; owner_in "$o" shop-green-kept || echo absent`);
    expect(r.stdout).toBe('shop\nabsent\n');
  });
});

describe('read_file: a file whole into a variable, as $(<FILE) would give it, without a subshell', () => {
  it.each([
    ['lines and trailing newlines', "printf 'a\\n\\nb c\\n\\n\\n'", 'a\n\nb c'],
    ['no newline at the end', "printf 'x'", 'x'],
    ['empty', ':', ''],
  ])('%s', (_what, write, want) => {
    const r = callScript({ app: 'shop' }, `f=$(mktemp); ${write} >"$f"; read_file "$f" got; rm -f "$f"; [[ $got == "$(printf '%b' ${shellQuote(want)})" ]] && echo same || printf 'got [%s]' "$got"`);
    expect(r.stdout).toBe('same\n');
  });
  it('a missing file: empty, quietly', () => {
    const r = callScript({ app: 'shop' }, 'got=x; read_file /nonexistent/file got 2>&1; printf "[%s]" "$got"');
    expect(r.stdout).toBe('[]');
  });
});

describe('ask_meanwhile: a question asked in the background', () => {
  const run = (question: string) =>
    callScript(
      { app: 'shop' },
      [
        'arm_err_trap',
        'RUN_TMP=$(mktemp -d) && run_file fail FAIL_NOTE',
        question,
        'ask_meanwhile q asked',
        'answer_of q got',
        '[[ -s $FAIL_NOTE ]] && echo "note: $(<"$FAIL_NOTE")" || echo "no note"',
        'printf "[%s]" "$got"; rm -rf "$RUN_TMP"',
      ].join('\n'),
    ).stdout;
  it('its answer, taken later', () => {
    expect(run('asked() { echo one; echo two; }')).toBe('no note\n[one\ntwo]');
  });
  it("one that fails: an empty answer and no failure note for the main shell to take as a step's", () => {
    expect(run('asked() { false; echo after; }')).toBe('no note\n[]');
  });
});

describe("prepare_hosts_conf: the switch writes the server blocks worked out while the new version booted, unless an app's route lines changed", () => {
  // The prepared text is marked, so the test sees whether sync_hosts_conf wrote it or rendered its own.
  const run = (between: string) =>
    callScript(
      { app: 'shop', hostname: 'shop.example' },
      [
        'mkdir -p "$CONF_DIR"',
        'write_proxy_config blue && sync_hosts_conf why',
        'prepare_proxy_texts green',
        "[[ -n $PREPARED_HOSTS_KEY ]] && PREPARED_HOSTS_TEXT=${PREPARED_HOSTS_TEXT/$'\\n'/$'\\n# prepared\\n'}",
        between,
        'write_proxy_config green && sync_hosts_conf why',
        'grep -c "^# prepared" "$HOSTS_CONF" || true; grep -o "server_name [a-z.]*" "$HOSTS_CONF" | sort -u | paste -sd " "',
      ].join('\n'),
    ).stdout;
  it('nothing changed: the prepared text', () => {
    expect(run(':')).toBe('1\nserver_name shop.example\n');
  });
  it("another app's route line came meanwhile: rendered again, with its host name", () => {
    const other = '# bluegreen: app=blog slot=blue container=blog-blue\n# bluegreen-hop-ports: 30100\n# bluegreen-route: blog.example / serve tls=0 acme=0\n';
    expect(run(`printf '%b' ${shellQuote(other)} >"$CONF_DIR/blog.conf"`)).toBe('0\nserver_name blog.example server_name shop.example\n');
  });
  it('an app that claims the same host name meanwhile: refused at the switch, as without the prepared text', () => {
    const other = '# bluegreen: app=blog slot=blue container=blog-blue\n# bluegreen-hop-ports: 30100\n# bluegreen-route: shop.example / serve tls=0 acme=0\n';
    const r = callScript(
      { app: 'shop', hostname: 'shop.example' },
      [
        'mkdir -p "$CONF_DIR"',
        'write_proxy_config blue && sync_hosts_conf why',
        'prepare_proxy_texts green',
        `printf '%b' ${shellQuote(other)} >"$CONF_DIR/blog.conf"`,
        'write_proxy_config green; sync_hosts_conf why || echo "refused: $why"',
      ].join('\n'),
    );
    expect(r.stdout).toContain('refused: host name shop.example, path /, is already served by app blog');
  });
});

describe('prepare_proxy_texts: the switch writes what was rendered while the new version booted, unless something it depends on changed', () => {
  // The prepared config is marked (a line after its first), so the test sees which one write_proxy_config wrote.
  const run = (between: string) =>
    callScript(
      { app: 'shop' },
      [
        'mkdir -p "$CONF_DIR"',
        'write_proxy_config blue', // the app's config as a first deploy leaves it: its hop ports chosen
        'prepare_proxy_texts green',
        "[[ -n $PREPARED_PROXY_KEY ]] && PREPARED_CONF=${PREPARED_CONF/$'\\n'/$'\\n# prepared\\n'}",
        between,
        'write_proxy_config green',
        'grep -c "^# prepared" "$CONF_FILE" || true; sed -n 1p "$CONF_FILE"',
      ].join('\n'),
    ).stdout;
  it('nothing changed: the prepared texts', () => {
    expect(run(':')).toBe('1\n# bluegreen: app=shop slot=green container=shop-green\n');
  });
  it.each([
    ['maintenance began', 'mkdir -p "${MAINTENANCE_FILE%/*}" && touch "$MAINTENANCE_FILE"'],
    ['a canary split began', 'CANARY_SLOT=green'],
  ])('%s: rendered again', (_what, between) => {
    expect(run(between)).toBe('0\n# bluegreen: app=shop slot=green container=shop-green\n');
  });
  it('another slot: rendered for it', () => {
    expect(callScript({ app: 'shop' }, 'mkdir -p "$CONF_DIR"; write_proxy_config blue; prepare_proxy_texts green; write_proxy_config blue; sed -n 1p "$CONF_FILE"').stdout).toBe(
      '# bluegreen: app=shop slot=blue container=shop-blue\n',
    );
  });
  it('a first deploy (no hop ports chosen yet): nothing prepared, the switch renders under the proxy lock', () => {
    expect(callScript({ app: 'shop' }, 'mkdir -p "$CONF_DIR"; prepare_proxy_texts green; echo "key=[$PREPARED_PROXY_KEY]"').stdout).toBe('key=[]\n');
  });
});

describe('recorded settings: a list goes through the record word for word (health-command)', () => {
  it.each([[['sh', '-c', 'test -e /version && echo "it\'s there"']], [['a b', 'tab\there', 'two\nlines', '100%20', '%', '']], [[]]])('%j', (words) => {
    const code = `BG_HEALTH_COMMAND=(${words.map(shellQuote).join(' ')}); value=$(setting_value BG_HEALTH_COMMAND); [[ $value != *$'\\n'* ]] || exit 9; BG_HEALTH_COMMAND=(x); load_list BG_HEALTH_COMMAND "$value"; for w in "\${BG_HEALTH_COMMAND[@]}"; do printf '<%s>' "$w"; done`;
    const { status, stdout } = callScript({}, code);
    expect(status).toBe(0);
    expect(stdout).toBe(words.map((w) => `<${w}>`).join(''));
  });
});

describe('list_versions: a rollback line names no version by its own commit or run', () => {
  // W deployed by commit aaaa…, X by commit bbbb…; then a rollback workflow run at commit bbbb… (main's
  // head) put W live again. bbbb… is X's commit, not W's.
  const [w, x] = ['sha256:' + 'a1'.repeat(32), 'sha256:' + 'b2'.repeat(32)];
  const line = (command: string, id: string, sha: string, run: string, image: string) =>
    JSON.stringify({ time: '2026-12-01T00:00:00Z', command, outcome: 'switched', image, imageId: id, serverImageId: id, gitSha: sha, runUrl: `https://github.com/o/r/actions/runs/${run}` });
  const history = [line('deploy', w, 'a'.repeat(40), '1', 'shop:w'), line('deploy', x, 'b'.repeat(40), '2', 'shop:x'), line('rollback', w, 'b'.repeat(40), '3', '')].join('\n');
  it.each([
    ['bbbbbbb', x],
    ['aaaaaaa', w],
    ['2', x],
    ['3', ''], // the rollback's run put W back; it deployed nothing
  ])('%s names %s', (name, id) => {
    const code = [
      `mkdir -p "$APP_DIR" && printf '%s\\n' ${shellQuote(history)} >"$APP_DIR/history.jsonl"`,
      `docker() { printf '%s\\n' "\${@: -1}"; }`, // every image is on this server, named by its ID
      `fail() { return 1; }`,
      `if resolve_version ${shellQuote(name)} >/dev/null 2>&1; then printf '%s|' "$VERSION_IMAGE_ID"; else printf 'none|'; fi`,
      `list_versions; read_version "\${VERSIONS[0]}"; printf '%s\t%s\t%s' "$id" "$image" "$sha"`,
    ].join('\n');
    const { stdout } = callScript({}, code);
    const [resolved, newest] = stdout.split('|');
    expect(resolved).toBe(id === '' ? 'none' : id);
    expect(newest.trim()).toBe(`${w}\tshop:w\t${'a'.repeat(40)}`); // W, live last, with its own deploy's commit
  });
});

describe('workers: the spec the runner writes is the fields bash reads (issue 23)', () => {
  it('worker_fields gives name, replicas and each word exactly, also through the recorded settings', () => {
    const workers = `jobs*2: sh -c 'echo "a  b" $HOME; exit 0' '' "tab\there"\nmail: mailer --queue=100%`;
    const show = 'for spec in "${BG_WORKERS[@]}"; do worker_fields "$spec" f; printf "[%s]" "${f[@]}"; echo; done';
    const expected = '[jobs][2][sh][-c][echo "a  b" $HOME; exit 0][][tab\there]\n[mail][1][mailer][--queue=100%]\n';
    expect(callScript({ workers }, show).stdout).toBe(expected);
    // Recorded and loaded back (rollback-to and status read the record).
    const roundTrip = `mkdir -p "$APP_DIR" && record_settings && BG_WORKERS=() && load_list BG_WORKERS "$(sed -n 's/^BG_WORKERS\\t//p' "$SETTINGS_FILE")" && ${show}`;
    expect(callScript({ workers }, roundTrip).stdout).toBe(expected);
  });

  it('wanted_workers names each container of a slot: <app>-<slot>-<name>-<n>', () => {
    expect(callScript({ app: 'shop', workers: 'jobs*2: run\nmail: send' }, 'wanted_workers green').stdout).toBe('shop-green-jobs-1\nshop-green-jobs-2\nshop-green-mail-1\n');
  });
});

/** nginx -t on a state directory's proxy files, read where the proxy would (CONF_MOUNT becomes the directory itself); stderr and status. */
function nginxTest(confDir: string, pairApps: readonly string[]): { stderr: string; status: number | null } {
  const pairs = `/tmp/bluegreen-tls-pairs`; // PAIRS_DIR: the 443 blocks include <app>.conf from there
  const dir = mkdtempSync(join(tmpdir(), 'bg-nginx-t-'));
  try {
    mkdirSync(pairs, { recursive: true });
    mkdirSync('/run/bluegreen-receipt', { recursive: true }); // RECEIPT_DIR: a tmpfs in the proxy
    for (const app of pairApps) writeFileSync(`${pairs}/${app}.conf`, 'ssl_reject_handshake on;\n');
    const mount = join(dir, 'conf.d');
    mkdirSync(join(mount, 'routes'), { recursive: true });
    for (const file of readdirSync(confDir, { recursive: true, withFileTypes: true })) {
      if (!file.isFile()) continue;
      const relative = join(file.parentPath, file.name).slice(confDir.length + 1);
      writeFileSync(join(mount, relative), readFileSync(join(confDir, relative), 'utf8').replaceAll('/etc/nginx/conf.d', mount));
    }
    writeFileSync(join(dir, 'nginx.conf'), `error_log stderr;\npid ${dir}/nginx.pid;\nevents {}\nhttp {\n    include ${mount}/*.conf;\n}\n`);
    const check = spawnSync('nginx', ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    expect(check.error, 'nginx must be installed (test/server/up.sh installs nginx-light)').toBeUndefined();
    return { stderr: check.stderr, status: check.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const app of pairApps) rmSync(`${pairs}/${app}.conf`, { force: true });
  }
}

describe('render_proxy_config: maintenance and canonical-host, checked by the real nginx -t (issue 23)', () => {
  const app = 'nginx-t-canon';

  it('gives the other names a 308 to the canonical one (80 and 443) and the maintenance page with 503, and nginx accepts it', () => {
    const home = mkdtempSync(join(tmpdir(), 'bg-fn-'));
    try {
      const given = { app, hostname: 'shop.example www.shop.example', 'canonical-host': 'shop.example', tls: 'own', 'tls-certificate': '/x/c.pem', 'tls-key': '/x/k.pem' };
      const render = `mkdir -p "$LIVE_TLS" "$CONF_DIR" && touch "$LIVE_TLS/fullchain.pem" "$LIVE_TLS/pair.pem" "$MAINTENANCE_FILE" && HTTP2_DIRECTIVE=0 && ${writeProxyFiles()}`;
      const conf = callScript(given, render, home).stdout;
      expect(conf).toContain('# bluegreen-route: shop.example / serve tls=1 acme=0\n# bluegreen-route: www.shop.example / redirect tls=1 acme=0\n');
      expect(conf).toContain('location / {\n    return 308 https://shop.example$request_uri;\n}\n');
      expect(conf).toMatch(/listen 80;\n {4}server_name www\.shop\.example;\n[^}]*include \/etc\/nginx\/conf\.d\/routes\/nginx-t-canon\.redirects;\n\}/);
      expect(conf).toMatch(/listen 443 ssl http2;\n {4}server_name www\.shop\.example;[^}]*ssl_session_tickets off;[^}]*include \/etc\/nginx\/conf\.d\/routes\/nginx-t-canon\.redirects;\n\}/);
      expect(conf.match(/server_name shop\.example;/g)).toHaveLength(2); // the app's own blocks, 80 and 443
      expect(conf).toContain(`    error_page 503 /__bluegreen/maintenance/${app};\n    return 503;\n`);
      expect(conf).toContain(`    alias /etc/nginx/conf.d/${app}.maintenance.html;\n`);
      expect(conf).not.toMatch(/^ {4}proxy_pass/m); // no route to the app while in maintenance (only its hop server, at 8)
      const check = nginxTest(`${home}/.bluegreen/nginx`, [app]);
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('path-prefix: apps that share a host name by path (issue 23)', () => {
  const apps: Array<[string, Record<string, string>]> = [
    ['front', { hostname: 'shop.example www.shop.example' }],
    ['api', { hostname: 'shop.example', 'path-prefix': '/api/', 'strip-prefix': 'true' }],
    ['api-v2', { hostname: 'shop.example', 'path-prefix': '/api/v2.0' }],
    ['admin', { 'path-prefix': '/admin' }], // the default server's /admin
    ['root', {}], // the default server's /
  ];

  it('gives each host name one server block with every app on it, the longest prefix for nginx to pick; nginx accepts it', () => {
    const home = mkdtempSync(join(tmpdir(), 'bg-fn-'));
    try {
      let hosts = '';
      for (const [app, given] of apps) hosts = callScript({ app, ...given }, `{ ${writeProxyFiles()}; } >/dev/null && cat "$HOSTS_CONF"`, home).stdout;
      expect(hosts.match(/server_name shop\.example;/g)).toHaveLength(1);
      const shop = hosts.slice(hosts.indexOf('server_name shop.example;'));
      expect(shop.slice(0, shop.indexOf('}\n'))).toMatch(/include \S+\/routes\/front\.locations;\n {4}include \S+\/routes\/api\.locations;\n {4}include \S+\/routes\/api-v2\.locations;\n$/);
      expect(hosts).toMatch(/listen 80 default_server;\n {4}server_name _;\n[^}]*include \S+\/root\.locations;\n {4}include \S+\/admin\.locations;\n\}/);
      expect(hosts).toMatch(/server_name www\.shop\.example;\n[^}]*include \S+\/front\.locations;\n\}/);
      const routes = (app: string) => readFileSync(`${home}/.bluegreen/nginx/routes/${app}.locations`, 'utf8');
      expect(routes('api')).toContain('location = /api {\n');
      expect(routes('api')).toContain('location /api/ {\n');
      expect(routes('api')).toContain('    rewrite ^/api/?(.*)$ /$1 break;\n}\n'); // strip-prefix: last in its location
      expect(routes('api-v2')).toContain('location /api/v2.0/ {\n');
      expect(routes('api-v2')).not.toContain('rewrite');
      expect(routes('front')).toContain('location / {\n');
      const check = nginxTest(`${home}/.bluegreen/nginx`, []);
      expect(check.stderr, check.stderr).toBe('');
      expect(check.status).toBe(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  const conflicts: Array<[string, Record<string, string>, string]> = [
    ['the same host name and prefix', { hostname: 'www.shop.example', 'path-prefix': '/' }, 'host name www.shop.example, path /, is already served by app front'],
    ['the same prefix written with a trailing /', { hostname: 'shop.example', 'path-prefix': '/api/' }, 'host name shop.example, path /api, is already served by app api'],
    ['the default server and prefix', { 'path-prefix': '/admin' }, 'another app (admin) is already the default server (no hostname) for path /admin'],
  ];
  it.each(conflicts)('refuses %s, writing nothing of its own', (_name, given, message) => {
    const home = mkdtempSync(join(tmpdir(), 'bg-fn-'));
    try {
      for (const [app, other] of apps) callScript({ app, ...other }, `{ ${writeProxyFiles()}; } >/dev/null`, home);
      const before = callScript({ app: 'late' }, 'cat "$HOSTS_CONF"', home).stdout;
      const out = callScript(
        { app: 'late', ...given },
        'mkdir -p "$CONF_DIR" && status=0 && { point_proxy_at green why || status=$?; } && echo "status $status $why"; ls "$CONF_DIR" "$ROUTES_DIR"; cat "$HOSTS_CONF"',
        home,
      ).stdout;
      expect(out).toContain(`status 2 ${message}`);
      expect(out).not.toMatch(/late/m); // neither its config nor its locations stay
      expect(out.endsWith(before)).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('drops a file only once the server blocks no longer include it: canonical-host dropped, then the app removed', () => {
    const home = mkdtempSync(join(tmpdir(), 'bg-fn-'));
    const reloaded = 'proxy_test_and_reload() { OLD_WORKERS=""; }; mkdir -p "$CONF_DIR"';
    const list = 'ls "$CONF_DIR" "$ROUTES_DIR" | tr "\\n" " "';
    try {
      const canonical = { app: 'front', hostname: 'shop.example www.shop.example', 'canonical-host': 'shop.example' };
      callScript(canonical, `${reloaded} && point_proxy_at green why`, home);
      callScript({ app: 'api', hostname: 'shop.example', 'path-prefix': '/api' }, `${reloaded} && point_proxy_at blue why`, home);
      expect(callScript(canonical, list, home).stdout).toContain('front.locations front.redirects');
      const plain = callScript({ app: 'front', hostname: 'shop.example www.shop.example' }, `${reloaded} && point_proxy_at green why && ${list} && cat "$HOSTS_CONF"`, home).stdout;
      expect(plain).not.toContain('front.redirects');
      expect(plain.match(/include \S+\/front\.locations;/g)).toHaveLength(2); // both names now serve it
      const removed = callScript({ app: 'front' }, `${reloaded} && point_proxy_at '' why && ${list} && cat "$HOSTS_CONF"`, home).stdout;
      expect(removed).not.toContain('front');
      expect(removed).toContain('api.locations');
      const last = callScript({ app: 'api' }, `${reloaded} && point_proxy_at '' why && ${list}`, home).stdout;
      expect(last).not.toMatch(/_hosts\.conf|api/); // nothing of either app is left
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('receipt (issue 25): the window and the counts', () => {
  it("logs a visitor's request only while the window's flag exists, never the proxy's own (a real nginx)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-receipt-nginx-'));
    const app = 'rc-nginx';
    const flag = `/run/bluegreen-receipt/${app}.on`;
    const logFile = `/run/bluegreen-receipt/${app}.log`;
    mkdirSync('/run/bluegreen-receipt', { recursive: true });
    rmSync(logFile, { force: true });
    const parts = callScript({ app }, 'receipt_http_conf; echo ---; receipt_location').stdout.split('---\n');
    const port = 18000 + Math.floor(Math.random() * 900);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `error_log ${dir}/error.log;\npid ${dir}/nginx.pid;\nevents {}\nhttp {\n${parts[0]}server {\n    listen 127.0.0.1:${port};\n    location / {\n${parts[1]}        return 200 "ok\\n";\n    }\n}\n}\n`,
    );
    // It daemonizes: its output must not be a pipe that would keep spawnSync waiting for the daemon.
    const started = spawnSync('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore', timeout: 10_000 });
    expect(started.status, existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '').toBe(0);
    const pid = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    const get = (from: string) =>
      new Promise<number>((resolve, reject) => {
        const request = http.get({ host: '127.0.0.1', port, path: '/', localAddress: from, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        request.on('error', reject);
      });
    try {
      await get('127.0.0.2'); // no window yet
      writeFileSync(flag, '');
      for (let i = 0; i < 3; i++) expect(await get('127.0.0.2')).toBe(200);
      await get('127.0.0.1'); // the proxy's own check
      rmSync(flag);
      await get('127.0.0.2'); // the window closed
    } finally {
      process.kill(pid, 'SIGQUIT'); // a graceful stop writes out the buffer
      for (let i = 0; i < 50 && existsSync(join(dir, 'nginx.pid')); i++) await new Promise((r) => setTimeout(r, 100));
      rmSync(flag, { force: true });
    }
    const lines = readFileSync(logFile, 'utf8').trim().split('\n');
    expect(lines, lines.join('\n')).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\d{10}\.\d{3} - 200 0\.\d{3} - \d+$/); // $msec, no upstream (a return), status, times, bytes
    rmSync(logFile, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts per slot: status classes, proxy errors and client aborts apart, percentiles, first and last; only inside the window', () => {
    const log = [
      '1000.000 shop-blue:8080 200 0.010 0.009 120', // before the window
      '1000.500 shop-blue:8080 200 0.020 0.019 120',
      '1000.600 shop-blue:8080 200 0.040 0.039 120',
      '1000.700 shop-blue:8080 503 0.005 0.005 90', // the app's 5xx
      '1000.800 shop-blue:8080 499 1.000 - 0', // the client gave up
      '1000.900 shop-green:8080 200 0.030 0.029 120',
      '1001.000 shop-green:8080 502 0.001 - 150', // the proxy's own 502: no upstream header
      '1001.100 shop-green:8080 404 0.002 0.002 60',
      '1001.200 shop-green:8080 301 0.002 0.002 60',
      '1001.250 - 308 0.000 - 0', // the proxy's own redirect
      '1001.260 127.0.0.1:HOP 101 0.300 0.001 90', // a WebSocket through the blue slot's hop
      '1001.300 shop-green:8080 200 0.100 0.099 120',
      '1002.000 shop-green:8080 200 0.010 0.009 120', // after the window
    ].join('\n');
    const out = callScript({}, `mkdir -p "$CONF_DIR" && receipt_json 1000500 1001300 <<LOG\n${log.replace('HOP', '$(hop_base)')}\nLOG`).stdout;
    expect(JSON.parse(out)).toEqual({
      fromMs: 1000500,
      toMs: 1001300,
      slots: {
        blue: { requests: 5, '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 1, proxyErrors: 0, aborted: 1, p50Ms: 40, p95Ms: 1000, p99Ms: 1000, firstMs: 1000500, lastMs: 1001260 },
        proxy: { requests: 1, '2xx': 0, '3xx': 1, '4xx': 0, '5xx': 0, proxyErrors: 0, aborted: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, firstMs: 1001250, lastMs: 1001250 },
        green: { requests: 5, '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 0, proxyErrors: 1, aborted: 0, p50Ms: 2, p95Ms: 100, p99Ms: 100, firstMs: 1000900, lastMs: 1001300 },
      },
      requests: 11,
      failed: 2,
      aborted: 1,
    });
  });

  it('keeps epoch milliseconds exact (mawk prints big numbers as 1.8e+12 and clamps %d to 32 bits)', () => {
    const log = ['1796621369.123 shop-blue:8080 200 0.010 0.009 120', '1796621370.456 shop-green:8080 200 0.020 0.019 120'].join('\n');
    const out = JSON.parse(callScript({}, `receipt_json 1796621369000 1796621371000 <<LOG\n${log}\nLOG`).stdout) as {
      fromMs: number;
      toMs: number;
      slots: Record<string, { firstMs: number; lastMs: number }>;
    };
    expect([out.fromMs, out.toMs]).toEqual([1796621369000, 1796621371000]);
    expect(out.slots.blue).toMatchObject({ firstMs: 1796621369123, lastMs: 1796621369123 });
    expect(out.slots.green).toMatchObject({ firstMs: 1796621370456, lastMs: 1796621370456 });
  });

  it('an empty window says so: no slot, no request', () => {
    expect(JSON.parse(callScript({}, 'receipt_json 5 10 </dev/null').stdout)).toEqual({ fromMs: 5, toMs: 10, slots: {}, requests: 0, failed: 0, aborted: 0 });
  });
});

describe('the app config with the receipt (issue 25)', () => {
  it('checks the flag in each proxied location; nginx -t accepts it; the same config whatever the window', () => {
    const home = mkdtempSync(join(tmpdir(), 'bg-fn-'));
    try {
      const given = { app: 'rc-conf', hostname: 'rc.example.com', 'path-prefix': '/api' };
      const out = callScript(given, writeProxyFiles(), home).stdout;
      expect(out.match(/if \(-f \/run\/bluegreen-receipt\/rc-conf\.on\) \{\n {8}set \$bluegreen_receipt \$bluegreen_visitor;/g)).toHaveLength(2); // location = /api and location /api/
      expect(out.match(/access_log \/run\/bluegreen-receipt\/rc-conf\.log bluegreen_receipt buffer=32k flush=250ms if=\$bluegreen_receipt;/g)).toHaveLength(2);
      expect(readFileSync(`${home}/.bluegreen/nginx/_hosts.conf`, 'utf8')).toContain('map $remote_addr $bluegreen_visitor {\n    127.0.0.1 0;\n    default 1;\n}');
      const check = nginxTest(`${home}/.bluegreen/nginx`, []);
      expect(check.stderr).toBe('');
      const again = callScript(given, 'RECEIPT_FROM_MS=1 && proxy_config_current green "$(engine_upstream green)" && echo current', home).stdout;
      expect(again).toBe('current\n');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('drain-seconds with a fraction', () => {
  it('reaches bash as whole milliseconds, which its arithmetic takes (2.5 seconds was a syntax error there)', () => {
    expect(callScript({ 'drain-seconds': '2.5' }, 'echo "$BG_DRAIN_SECONDS $BG_DRAIN_MS $((1000 + BG_DRAIN_MS))"').stdout).toBe('2.5 2500 3500\n');
  });
});

describe('rollout: canary: the config that splits the clients (issue 25)', () => {
  const app = { app: 'cn-app', hostname: 'cn.example.com', rollout: 'canary', 'canary-percent': '20' };
  const point = 'proxy_test_and_reload() { OLD_WORKERS=""; }; mkdir -p "$CONF_DIR" && CANARY_SLOT=green && point_proxy_at blue why && cat "$CONF_FILE" "$ROUTE_FILE"';

  it.each([
    ['no canary-header', '', []],
    ['a header', 'X-Canary', ['map $http_x_canary $bluegreen_canary_cn_happ {', '    "" $bluegreen_canary_share_cn_happ;', '    default 1;']],
    ['a header and its value', 'X-Canary: yes', ['map $http_x_canary $bluegreen_canary_cn_happ {', '    "yes" 1;', '    default $bluegreen_canary_share_cn_happ;']],
    ['a cookie', 'cookie: beta', ['map $cookie_beta $bluegreen_canary_cn_happ {']],
    ['a cookie and its value', 'cookie: beta=1', ['map $cookie_beta $bluegreen_canary_cn_happ {', '    "1" 1;']],
  ])('%s: the share goes to the candidate, the rest to the live slot, and the real nginx -t accepts it', (_name, header, lines) => {
    const home = mkdtempSync(join(tmpdir(), 'bg-fn-'));
    try {
      const out = callScript({ ...app, 'canary-header': header }, point, home).stdout;
      expect(out).toContain('# bluegreen-canary: green 20');
      expect(out).toContain('    20% 1;\n    * 0;');
      const chooser = header ? '$bluegreen_canary_cn_happ' : '$bluegreen_canary_share_cn_happ';
      expect(out).toContain(`map ${chooser} $bluegreen_pick_cn_happ {\n    1 cn-app-green:8080;\n    default cn-app-blue:8080;\n}`);
      expect(out).toContain('    set $bluegreen_upstream $bluegreen_pick_cn_happ;\n    add_header Set-Cookie $bluegreen_canary_cookie_cn_happ always;');
      for (const line of lines) expect(out).toContain(line);
      const check = nginxTest(`${home}/.bluegreen/nginx`, []);
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
      // Without the canary the same app's config names the live slot alone.
      const plain = callScript({ ...app, 'canary-header': header }, point.replace('CANARY_SLOT=green && ', ''), home).stdout;
      expect(plain).not.toMatch(/canary|Set-Cookie/);
      expect(plain).toContain('    set $bluegreen_upstream cn-app-blue:8080;');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('rollout: canary and bake-seconds: the judgement (issue 25)', () => {
  // canary-max-error-rate 1 (%), canary-min-requests 20, canary-max-latency 2x (50 ms grace) unless given.
  const judge = (numbers: number[], final: 0 | 1, given: Record<string, string> = {}) =>
    callScript({ rollout: 'canary', ...given }, `TRIAL_NUMBERS=(${numbers.join(' ')}) && judge_trial ${final} && echo "$TRIAL_VERDICT"`).stdout.trim();

  it.each([
    ['too many failed, at any time', [100, 2, 10, 400, 8], 0, {}, 'revert 2 of its 100 requests failed (2.00%), more than canary-max-error-rate (1.00%)'],
    ['too many failed but too few requests to judge yet', [10, 5, 10, 40, 8], 0, {}, 'wait'],
    ['within the limit, before the end', [100, 1, 10, 400, 8], 0, {}, 'wait'],
    ['within the limit at the end', [100, 1, 10, 400, 8], 1, {}, "promote 1 of its 100 requests failed (1.00%), p95 10 ms (the live version's: 8 ms)"],
    ['too few requests at the end', [10, 0, 10, 40, 8], 1, {}, 'low only 10 request(s) reached it, fewer than canary-min-requests (20)'],
    ['a p95 over 2x the live one', [100, 0, 200, 400, 20], 1, {}, "revert its p95 was 200 ms, over canary-max-latency (2.00x the live version's 20 ms)"],
    ['6x slower, but only 25 ms', [100, 0, 30, 400, 5], 1, {}, "promote 0 of its 100 requests failed (0.00%), p95 30 ms (the live version's: 5 ms)"],
    ['a p95 over a limit in ms', [100, 0, 150, 400, 5], 1, { 'canary-max-latency': '100ms' }, 'revert its p95 was 150 ms, over canary-max-latency (100 ms)'],
    ['a higher error rate allowed', [100, 4, 10, 400, 8], 1, { 'canary-max-error-rate': '5%' }, "promote 4 of its 100 requests failed (4.00%), p95 10 ms (the live version's: 8 ms)"],
    ['half failed, judged from 2 requests', [4, 2, 10, 16, 8], 0, { 'canary-min-requests': '2' }, 'revert 2 of its 4 requests failed (50.00%), more than canary-max-error-rate (1.00%)'],
  ] as const)('%s', (_name, numbers, final, given, verdict) => {
    expect(judge([...numbers], final, given)).toBe(verdict);
  });

  it("reads a slot's requests, failures (5xx and the proxy's 502/504) and p95 from the receipt", () => {
    const receipt = JSON.stringify({
      fromMs: 0,
      toMs: 9,
      slots: {
        blue: { requests: 400, '2xx': 400, '3xx': 0, '4xx': 0, '5xx': 0, proxyErrors: 0, aborted: 0, p50Ms: 2, p95Ms: 7, p99Ms: 9, firstMs: 1, lastMs: 8 },
        green: { requests: 100, '2xx': 95, '3xx': 0, '4xx': 0, '5xx': 3, proxyErrors: 2, aborted: 1, p50Ms: 3, p95Ms: 12, p99Ms: 30, firstMs: 1, lastMs: 8 },
      },
    });
    const out = callScript({}, `for slot in green blue red; do slot_numbers '${receipt}' "$slot"; done`).stdout;
    expect(out).toBe('100 5 12\n400 0 7\n0 0 0\n');
  });
});
