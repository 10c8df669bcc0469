import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import * as tar from 'tar-stream';
import { legacyLayerDirs } from './layers';
import { shortId } from '../format';

/**
 * The archive the server loads, whatever the runner's `docker save` wrote: an OCI image layout
 * (blobs by digest, `index.json`, `oci-layout`) that also carries `manifest.json`, so both image
 * stores load it: the containerd store reads the index, the classic store the manifest. Blobs the
 * server already has are left out; both stores then take those layers from what they have.
 *
 * - An OCI layout (Docker 25+, or the containerd store) passes through as it is.
 * - A legacy archive (Docker before 25: `<v1 id>/layer.tar`) is converted: each layer becomes the
 *   blob named by its diff ID (the digest of the uncompressed tar, checked as it streams), the config
 *   the blob named by the config digest, and an OCI manifest and index are written at the end.
 */
export interface ArchivePlan {
  reference: string; // name:tag, for RepoTags and the index's name annotation
  configDigest: string; // sha256:...
  diffIds: readonly string[];
  leaveOut: ReadonlySet<string>; // blob digests (sha256:...) the server already has
}

export interface ArchiveFacts {
  form: 'legacy' | 'oci';
  /** Digest of the index's first descriptor: what the containerd store calls the loaded image. */
  topDigest: string;
  blobsLeftOut: number;
}

export class ArchiveError extends Error {}

/** A blob's path in an OCI layout; the group is its sha256 digest. */
export const BLOB = /^blobs\/sha256\/([0-9a-f]{64})$/;
const LEGACY_LAYER = /^([0-9a-f]{64})\/layer\.tar$/;
const LEGACY_JSON = /^([0-9a-f]{64})\/json$/;
const LEGACY_CONFIG = /^([0-9a-f]{64})\.json$/;

export const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

/**
 * A reference as Docker's containerd store names images (`shop:1` is `docker.io/library/shop:1`):
 * the name an OCI index must carry for `docker load` to tag it.
 */
export function fullImageName(reference: string): string {
  const slash = reference.indexOf('/');
  const first = slash < 0 ? '' : reference.slice(0, slash);
  const hasDomain = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const named = hasDomain ? reference : slash < 0 ? `docker.io/library/${reference}` : `docker.io/${reference}`;
  const lastPart = named.slice(named.lastIndexOf('/') + 1);
  return lastPart.includes(':') || lastPart.includes('@') ? named : `${named}:latest`;
}

/** The OCI manifest, index and docker manifest.json for a converted legacy archive. */
export function layoutFiles(
  plan: Pick<ArchivePlan, 'reference' | 'configDigest' | 'diffIds'>,
  configSize: number,
  layerSizes: readonly number[],
): { manifest: string; manifestDigest: string; index: string; dockerManifest: string } {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: plan.configDigest, size: configSize },
    layers: plan.diffIds.map((digest, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: layerSizes[i] })),
  });
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  const name = fullImageName(plan.reference);
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: Buffer.byteLength(manifest),
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  });
  const blobPath = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
  const dockerManifest = JSON.stringify([{ Config: blobPath(plan.configDigest), RepoTags: [plan.reference], Layers: plan.diffIds.map(blobPath) }]);
  return { manifest, manifestDigest, index, dockerManifest };
}

/** The first descriptor of an OCI index: the image the containerd store creates on load. */
export function indexTopDigest(indexJson: string): string {
  const index = JSON.parse(indexJson) as { manifests?: Array<{ digest?: string }> };
  const digest = index.manifests?.[0]?.digest;
  if (!digest) throw new ArchiveError('the archive has an index.json without a manifest');
  return digest;
}

export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Rewrites a `docker save` stream into the archive described above. */
export function serverArchive(saved: Readable, plan: ArchivePlan): { archive: Readable; facts: Promise<ArchiveFacts> } {
  const extract = tar.extract();
  const pack = tar.pack();
  const facts: ArchiveFacts = { form: 'oci', topDigest: '', blobsLeftOut: 0 };
  // Legacy conversion: which diff ID each v1 directory holds, and what it carries.
  const dirToDiffId = new Map<string, string>();
  const layerSizes: number[] = new Array<number>(plan.diffIds.length).fill(-1);
  let configSize = -1;
  let sawLegacy = false;

  const add = (name: string, content: Buffer, next: () => void) =>
    pack.entry({ name, size: content.length, mode: 0o444, mtime: new Date(0) }, content, (error) => (error ? pack.destroy(error) : next()));
  const skip = (stream: Readable, next: () => void) => {
    stream.on('end', next);
    stream.resume();
  };
  /** Sends (or leaves out) one blob, checking its digest as it passes when `expect` is given. */
  const blob = (header: tar.Headers, stream: Readable, digest: string, next: () => void, verify: boolean) => {
    if (plan.leaveOut.has(digest)) {
      facts.blobsLeftOut++;
      skip(stream, next);
      return;
    }
    const hash = verify ? createHash('sha256') : undefined;
    if (hash) stream.on('data', (chunk: Buffer) => hash.update(chunk));
    const entry = pack.entry({ name: `blobs/sha256/${digest.slice(7)}`, size: header.size, mode: 0o444, mtime: new Date(0) }, (error) => {
      if (error) return pack.destroy(error);
      if (hash && `sha256:${hash.digest('hex')}` !== digest) {
        return pack.destroy(new ArchiveError(`a layer of the runner's archive is not ${digest.slice(0, 19)} as its name says`));
      }
      next();
    });
    stream.pipe(entry);
  };

  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    let m: RegExpMatchArray | null;
    if (header.type === 'directory') {
      skip(stream, next);
    } else if ((m = name.match(BLOB))) {
      blob(header, stream, `sha256:${m[1]}`, next, false);
    } else if (name === 'index.json') {
      void readAll(stream).then((content) => {
        try {
          facts.topDigest = indexTopDigest(content.toString('utf8'));
        } catch (error) {
          return pack.destroy(error as Error);
        }
        add(name, content, next);
      });
    } else if (name === 'manifest.json' || name === 'oci-layout') {
      if (sawLegacy) skip(stream, next);
      else void readAll(stream).then((content) => add(name, content, next));
    } else if ((m = name.match(LEGACY_JSON))) {
      sawLegacy = true;
      const dir = m[1];
      void readAll(stream).then((content) => {
        mapLegacyDir(dir, content.toString('utf8'));
        next();
      });
    } else if ((m = name.match(LEGACY_LAYER))) {
      sawLegacy = true;
      const diffId = dirToDiffId.get(m[1]);
      if (!diffId) return pack.destroy(new ArchiveError(`cannot tell which layer ${name} of the runner's archive is`));
      layerSizes[plan.diffIds.indexOf(diffId)] = header.size ?? 0;
      blob(header, stream, diffId, next, true);
    } else if ((m = name.match(LEGACY_CONFIG))) {
      sawLegacy = true;
      void readAll(stream).then((content) => {
        configSize = content.length;
        if (`sha256:${createHash('sha256').update(content).digest('hex')}` !== plan.configDigest) {
          return pack.destroy(new ArchiveError(`the runner's archive holds config ${m![1].slice(0, 12)}, not ${shortId(plan.configDigest)}`));
        }
        add(`blobs/sha256/${plan.configDigest.slice(7)}`, content, next);
      });
    } else {
      skip(stream, next); // repositories, VERSION: nothing a loader needs
    }
  });

  /** A v1 directory's json names its layer: lower layers by the legacy ID sum, the top by its config. */
  function mapLegacyDir(dir: string, json: string): void {
    if (dirToDiffId.has(dir)) return;
    const parsed = JSON.parse(json) as Record<string, unknown>;
    if ('config' in parsed || plan.diffIds.length === 1) {
      dirToDiffId.set(dir, plan.diffIds[plan.diffIds.length - 1]);
      return;
    }
    const dirs = legacyLayerDirs(plan.diffIds, json);
    if (dirs) dirs.forEach((id, i) => dirToDiffId.set(id, plan.diffIds[i]));
  }

  const done = new Promise<ArchiveFacts>((resolve, reject) => {
    extract.on('finish', () => {
      if (!sawLegacy) {
        if (!facts.topDigest) return pack.destroy(new ArchiveError("the runner's archive has neither index.json nor v1 layers"));
        pack.finalize();
        return;
      }
      facts.form = 'legacy';
      if (configSize < 0 || layerSizes.includes(-1)) return pack.destroy(new ArchiveError("the runner's archive lacks the image's config or a layer"));
      const files = layoutFiles(plan, configSize, layerSizes);
      facts.topDigest = files.manifestDigest;
      add(`blobs/sha256/${files.manifestDigest.slice(7)}`, Buffer.from(files.manifest), () =>
        add('index.json', Buffer.from(files.index), () => add('oci-layout', Buffer.from(OCI_LAYOUT), () => add('manifest.json', Buffer.from(files.dockerManifest), () => pack.finalize()))),
      );
    });
    pack.on('end', () => resolve(facts));
    pack.on('error', reject);
  });
  done.catch(() => undefined); // observed by whoever awaits it; the stream carries the error too
  pipeline(saved, extract, (error) => error && pack.destroy(error));
  return { archive: pack as unknown as Readable, facts: done };
}
