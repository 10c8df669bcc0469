import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { ArchiveError, fullImageName, indexTopDigest, layoutFiles, serverArchive } from '../../../src/image/archive';
import { resolveManifest } from '../../../src/image/local';
import { configTag, configTagCommand, layerListCommand, loadCommand, loadProblem, lookupCommand, parseLookup, tagCommand, untagCommand } from '../../../src/image/server-images';

const sha = (text: string | Buffer) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const A = sha('a');
const B = sha('b');
const C = sha('config');
const M = sha('manifest');

async function tarOf(entries: Array<[string, Buffer | string]>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, content] of entries) pack.entry({ name }, typeof content === 'string' ? Buffer.from(content) : content);
  pack.finalize();
  return pack as unknown as Readable;
}

async function entriesOf(stream: Readable): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const extract = tar.extract();
  extract.on('entry', (header, content, next) => {
    const chunks: Buffer[] = [];
    content.on('data', (c: Buffer) => chunks.push(c));
    content.on('end', () => {
      out.set(header.name, Buffer.concat(chunks).toString('utf8'));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    stream.on('error', reject);
    stream.pipe(extract);
  });
  return out;
}

describe('fullImageName: the name the containerd store gives a reference', () => {
  it.each([
    ['shop', 'docker.io/library/shop:latest'],
    ['shop:1.2', 'docker.io/library/shop:1.2'],
    ['acme/shop:1', 'docker.io/acme/shop:1'],
    ['ghcr.io/acme/shop:sha-1', 'ghcr.io/acme/shop:sha-1'],
    ['localhost:5000/shop', 'localhost:5000/shop:latest'],
    ['localhost/shop:2', 'localhost/shop:2'],
    ['registry:5000/a/b:c', 'registry:5000/a/b:c'],
  ])('%s -> %s', (reference, full) => expect(fullImageName(reference)).toBe(full));
});

describe('the commands the transfer runs on the server (exact text)', () => {
  const image = { id: C, storeId: M, reference: 'shop:1', layers: [A, B] };
  it('looks the image up by config digest, store ID and config tag in one call, listing layers only when none exists', () => {
    expect(lookupCommand(image)).toBe(
      `out=$(docker image inspect --format 'have {{.Id}} {{json .RepoTags}} {{json .RootFS}}' ${C} ${M} ${configTag(C)} 2>/dev/null); ` +
        `if [ -n "$out" ]; then printf '%s\\n' "$out"; ` +
        `found=$(printf '%s\\n' "$out" | while read -r _ id tags rootfs; do if [ "$(printf '%s' "$rootfs" | grep -o 'sha256:[0-9a-f]*' | tr '\\n' ' ')" = '${A} ${B} ' ]; then echo "$id $tags"; break; fi; done); ` +
        `id=\${found%% *}; tags=\${found#* }; ` +
        `if [ -n "$id" ] && { case "$tags" in *'"shop:1"'*) ;; *) docker tag "$id" shop:1 ;; esac; } && ` +
        `{ [ "$id" = ${C} ] || { case "$tags" in *'"${configTag(C)}"'*) ;; *) docker tag "$id" ${configTag(C)} ;; esac; }; }; then echo "tagged $id"; fi; ` +
        `else docker image ls --quiet --no-trunc | sort -u | xargs -r docker image inspect --format 'layers {{json .RootFS}}'; fi`,
    );
    expect(lookupCommand({ ...image, storeId: C })).toContain(`{{json .RootFS}}' ${C} ${configTag(C)} 2>/dev/null`);
    expect(layerListCommand()).toBe(`docker image ls --quiet --no-trunc | sort -u | xargs -r docker image inspect --format 'layers {{json .RootFS}}'`);
  });
  it('loads, then proves the layers, and a created container where the store names the image by its manifest, before the config tag', () => {
    const check =
      `echo loaded && info=$(docker image inspect --format '{{.Id}} {{json .RootFS}}' shop:1) && echo "image $info" && id=\${info%% *} && ` +
      `if [ "$(printf '%s' "\${info#* }" | grep -o 'sha256:[0-9a-f]*' | tr '\\n' ' ')" != '${A} ${B} ' ]; then echo layers-differ; ` +
      `elif [ "$id" = ${C} ]; then echo proven; ` +
      `elif c=$(docker create --network none --entrypoint /bluegreen-check shop:1 2>&1); then docker rm "$c" >/dev/null && docker tag "$id" ${configTag(C)} && echo proven; ` +
      `else echo "not-created $c" | tr '\\n' ' '; echo; fi`;
    expect(loadCommand(image, true)).toBe(`gunzip -c | docker load >&2 && ${check}`);
    expect(loadCommand(image, false)).toBe(`docker load >&2 && ${check}`);
  });
  it('tags the reference, and the config tag only where the store names the image otherwise; takes both back', () => {
    expect(tagCommand(C, image)).toBe(`docker tag ${C} shop:1`);
    expect(tagCommand(M, image)).toBe(`docker tag ${M} shop:1 && docker tag ${M} bluegreen/by-config:${C.slice(7)}`);
    expect(configTagCommand(C, image)).toBe(`docker tag ${C} bluegreen/by-config:${C.slice(7)}`);
    expect(configTagCommand(M, image)).toBe(`docker tag ${M} bluegreen/by-config:${C.slice(7)}`);
    expect(untagCommand({ id: C, reference: "it's:1" })).toBe(`docker image rm 'it'\\''s:1' ${configTag(C)} >/dev/null 2>&1 || true`);
  });
});

describe("reading the server's answers", () => {
  const image = { id: C, storeId: M, reference: 'shop:1', layers: [A, B] };
  const rootfs = (layers: string[]) => JSON.stringify({ Type: 'layers', Layers: layers });
  it('finds the image only where its layers match, ignoring what a login shell prints', () => {
    const out = ['Welcome to the server!', `have ${M} [] ${rootfs([A])}`, `have ${C} ["shop:1"] ${rootfs([A, B])}`, ''].join('\n');
    expect(parseLookup(out, { layers: [A, B] })).toEqual({ found: { id: C, layers: [A, B] }, candidates: 2, layerLists: [] });
    expect(parseLookup(`have ${M} [] {"Type":""}\n`, { layers: [A, B] })).toEqual({ found: undefined, candidates: 1, layerLists: [] });
  });
  it('knows which ID the lookup already tagged', () => {
    expect(parseLookup(`have ${C} [] ${rootfs([A, B])}\ntagged ${C}\n`, { layers: [A, B] })).toEqual({ found: { id: C, layers: [A, B] }, tagged: C, candidates: 1, layerLists: [] });
  });
  it.each([
    ['the config digest', C, '[]', [`tag ${C} shop:1`]],
    ['a manifest digest (containerd store), with the config tag too', M, '["other:2"]', [`tag ${M} shop:1`, `tag ${M} ${configTag(C)}`]],
    ['the config digest, already tagged', C, '["shop:1"]', []],
    ['a manifest digest, tagged both ways already', M, `["shop:1","${configTag(C)}"]`, []],
    ['a manifest digest, with the config tag only', M, `["${configTag(C)}"]`, [`tag ${M} shop:1`]],
  ])('the lookup, run by sh with a docker that has the image under %s, tags it in the same round trip', (_name, id, repoTags, tagCalls) => {
    const bin = mkdtempSync(join(tmpdir(), 'bg-lookup-'));
    try {
      // This docker has two candidates: the first with other layers (and the tags: they are not its), the second the image itself.
      writeFileSync(
        join(bin, 'docker'),
        `#!/bin/sh\ncase "$1 $2" in\n  "image inspect") echo 'have ${B} ["shop:1","${configTag(C)}"] ${rootfs([A])}'; echo 'have ${id} ${repoTags} ${rootfs([A, B])}' ;;\n  tag*) echo "$*" >>"${bin}/calls" ;;\nesac\n`,
        { mode: 0o755 },
      );
      const out = execFileSync('sh', ['-c', lookupCommand(image)], { env: { PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
      expect(parseLookup(out, image)).toMatchObject({ found: { id }, tagged: id, candidates: 2 });
      expect(existsSync(join(bin, 'calls')) ? readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n') : []).toEqual(tagCalls);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
  it('collects the layer lists of every image, a broken one as none', () => {
    const out = ['banner', `layers ${rootfs([A, B])}`, 'layers {"Type":""}', 'layers {not json'].join('\n');
    expect(parseLookup(out, { layers: [A] }).layerLists).toEqual([[A, B], []]);
  });
  it.each([
    ['proved', `loaded\nimage ${M} ${rootfs([A, B])}\nproven\n`, undefined],
    ['classic ID', `loaded\nimage ${C} ${rootfs([A, B])}\nproven\n`, undefined],
    ['another ID', `loaded\nimage ${B} ${rootfs([A, B])}\nproven\n`, /is [0-9a-f]{12}, not/],
    ['layers that never unpacked', `loaded\nimage ${M} {"Type":""}\nlayers-differ\n`, /has 0 of its 2 layers/],
    ['no container', `loaded\nimage ${M} ${rootfs([A, B])}\nnot-created Error: snapshot missing \n`, /no container can be created from it \(Error: snapshot missing\)/],
    ['no image', `loaded\n`, /missing after docker load/],
  ])('a load that is %s', (_name, out, problem) => {
    const found = loadProblem(out, { layers: [A, B] }, [C, M]);
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });
});

describe('resolveManifest: the platform image of an index, never an attestation', () => {
  const manifest = { config: { digest: C }, layers: [{ digest: A }] };
  const blobs = new Map<string, object>([
    [
      'sha256:index',
      {
        manifests: [
          { digest: 'sha256:att', platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
          { digest: 'sha256:arm', platform: { os: 'linux', architecture: 'arm64' } },
          { digest: M, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      },
    ],
    [M, manifest],
    ['sha256:single', { manifests: [{ digest: M }, { digest: 'sha256:att', annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }] }],
  ]);
  it("follows an index to the runner platform's manifest", () => {
    expect(resolveManifest('sha256:index', blobs, { os: 'linux', architecture: 'amd64' })).toEqual(manifest);
    expect(resolveManifest('sha256:single', blobs, { os: 'linux', architecture: 'amd64' })).toEqual(manifest);
    expect(resolveManifest(M, blobs, { os: 'linux', architecture: 'amd64' })).toEqual(manifest);
  });
  it('gives up while the blobs it needs have not been read', () => {
    expect(resolveManifest('sha256:index', blobs, { os: 'linux', architecture: 'riscv64' })).toBeUndefined();
    expect(resolveManifest('sha256:nothing', blobs, { os: 'linux', architecture: 'amd64' })).toBeUndefined();
  });
});

describe('serverArchive: an archive both image stores load', () => {
  const layerA = Buffer.from('layer a tar bytes');
  const layerB = Buffer.from('layer b tar bytes');
  const config = JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha(layerA), sha(layerB)] } });
  const configDigest = sha(config);
  const plan = (leaveOut: string[] = []) => ({ reference: 'shop:1', configDigest, diffIds: [sha(layerA), sha(layerB)], leaveOut: new Set(leaveOut) });

  it('passes an OCI layout through, leaving out the blobs the server has', async () => {
    const index = JSON.stringify({ manifests: [{ digest: M }] });
    const input = await tarOf([
      [`blobs/sha256/${sha(layerA).slice(7)}`, layerA],
      [`blobs/sha256/${sha(layerB).slice(7)}`, layerB],
      ['index.json', index],
      ['manifest.json', '[]'],
      ['oci-layout', '{}'],
    ]);
    const { archive, facts } = serverArchive(input, plan([sha(layerA)]));
    const out = await entriesOf(archive);
    expect([...out.keys()]).toEqual([`blobs/sha256/${sha(layerB).slice(7)}`, 'index.json', 'manifest.json', 'oci-layout']);
    expect(await facts).toEqual({ form: 'oci', topDigest: M, blobsLeftOut: 1 });
  });

  it('converts a one-layer legacy archive: blobs by digest, a manifest, index and manifest.json', async () => {
    const one = { reference: 'shop:1', configDigest: sha(JSON.stringify({ x: 1 })), diffIds: [sha(layerA)], leaveOut: new Set<string>() };
    const dir = 'f'.repeat(64);
    const input = await tarOf([
      [`${dir}/VERSION`, '1.0'],
      [`${dir}/json`, JSON.stringify({ id: dir, config: {} })],
      [`${dir}/layer.tar`, layerA],
      [`${one.configDigest.slice(7)}.json`, JSON.stringify({ x: 1 })],
      ['manifest.json', '[]'],
      ['repositories', '{}'],
    ]);
    const { archive, facts } = serverArchive(input, one);
    const out = await entriesOf(archive);
    const files = layoutFiles(one, Buffer.byteLength(JSON.stringify({ x: 1 })), [layerA.length]);
    expect(Object.fromEntries(out)).toEqual({
      [`blobs/sha256/${sha(layerA).slice(7)}`]: layerA.toString(),
      [`blobs/sha256/${one.configDigest.slice(7)}`]: JSON.stringify({ x: 1 }),
      [`blobs/sha256/${files.manifestDigest.slice(7)}`]: files.manifest,
      'index.json': files.index,
      'oci-layout': '{"imageLayoutVersion":"1.0.0"}',
      'manifest.json': files.dockerManifest,
    });
    expect(indexTopDigest(files.index)).toBe(files.manifestDigest);
    expect(JSON.parse(files.index).manifests[0].annotations).toEqual({ 'io.containerd.image.name': 'docker.io/library/shop:1', 'org.opencontainers.image.ref.name': '1' });
    expect(JSON.parse(files.dockerManifest)).toEqual([{ Config: `blobs/sha256/${one.configDigest.slice(7)}`, RepoTags: ['shop:1'], Layers: [`blobs/sha256/${sha(layerA).slice(7)}`] }]);
    expect(await facts).toEqual({ form: 'legacy', topDigest: files.manifestDigest, blobsLeftOut: 0 });
  });

  it('refuses a legacy layer whose bytes are not the layer its name claims', async () => {
    const one = { reference: 'shop:1', configDigest: sha('{}'), diffIds: [sha(layerA)], leaveOut: new Set<string>() };
    const dir = 'e'.repeat(64);
    const input = await tarOf([
      [`${dir}/json`, JSON.stringify({ id: dir, config: {} })],
      [`${dir}/layer.tar`, layerB],
      [`${sha('{}').slice(7)}.json`, '{}'],
    ]);
    const { archive, facts } = serverArchive(input, one);
    await expect(entriesOf(archive)).rejects.toBeInstanceOf(ArchiveError);
    await expect(facts).rejects.toThrow(/is not sha256:/);
  });

  it('refuses an archive that is neither form', async () => {
    const { archive, facts } = serverArchive(await tarOf([['hello.txt', 'hi']]), plan());
    await expect(entriesOf(archive)).rejects.toThrow(/neither index.json nor v1 layers/);
    await expect(facts).rejects.toBeInstanceOf(ArchiveError);
  });
});
