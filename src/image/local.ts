import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BLOB, readAll } from './archive';
import type { BuildConfig } from '../inputs/config';
import { shortId } from '../format';
import { type Endpoint, EngineApiError, endpointOf, engineGet, engineGetJson } from './engine-api';

/** The image on the runner, identified by the digest of its config on every image store. */
export interface LocalImage {
  reference: string;
  id: string; // sha256:... of the config: the same on the classic and the containerd store
  storeId: string; // what the runner's store calls it: the config digest (classic), a manifest or index digest (containerd)
  sizeBytes: number;
  layers: string[]; // diff IDs, base first
  layerBlobs: string[]; // digests of the layer blobs as `docker save` names them: the diff IDs unless stored compressed
  compressedLayers: boolean; // stored (and saved) compressed, as the containerd store keeps built and pulled layers
  exposedPorts: string[]; // the image's EXPOSE: 3000/tcp, 53/udp
  env: string[]; // the image's ENV, KEY=VALUE
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
  annotations?: Record<string, string>;
}
/** What the Engine API's image inspect gives, as far as the action reads it. */
interface ImageInspect {
  Id: string;
  Size: number;
  Os: string;
  Architecture: string;
  RootFS?: { Layers?: string[] };
  Config?: { ExposedPorts?: Record<string, unknown>; Env?: string[] };
  /** Only the containerd image store describes images by a descriptor. */
  Descriptor?: Descriptor;
}
interface OciManifest {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

/**
 * The config and layer blobs of the image `top` names (a manifest, or an index of them), given the
 * small JSON blobs of its archive: the platform's image manifest, never an attestation.
 */
export function resolveManifest(top: string, blobs: ReadonlyMap<string, OciManifest>, platform: { os: string; architecture: string }): OciManifest | undefined {
  const node = blobs.get(top);
  if (!node) return undefined;
  if (node.config && node.layers) return node;
  const candidates = (node.manifests ?? []).filter((d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  const chosen = candidates.find((d) => d.platform?.os === platform.os && d.platform?.architecture === platform.architecture) ?? (candidates.length === 1 ? candidates[0] : undefined);
  return chosen ? resolveManifest(chosen.digest, blobs, platform) : undefined;
}

/** The `docker build` arguments for a build config: a pure function, executed by buildImage. */
export function buildArguments(build: BuildConfig, image: string): string[] {
  const args = ['build', '--tag', image];
  if (build.dockerfile) args.push('--file', build.dockerfile);
  for (const arg of build.buildArgs) args.push('--build-arg', arg);
  if (build.target) args.push('--target', build.target);
  args.push(build.context);
  return args;
}

export function shouldBuild(build: BuildConfig): boolean {
  if (build.mode !== 'auto') return build.mode === 'always';
  const dockerfile = build.dockerfile ? resolve(build.dockerfile) : join(build.context, 'Dockerfile');
  return existsSync(dockerfile);
}

/** The image to deploy is not on the runner, and says how to get it there. */
export class MissingImageError extends Error {
  constructor(image: string, build: BuildConfig) {
    super(
      `image ${image} is not on the runner` +
        (build.mode === 'never' ? ': build it in an earlier step, or set build: true' : ` and no Dockerfile was found in ${build.context}: set context or dockerfile, or build it in an earlier step`),
    );
  }
}

/** Builds with the docker CLI, so the runner's BuildKit and buildx setup apply. */
export async function buildImage(build: BuildConfig, image: string): Promise<void> {
  const code = await new Promise<number | null>((resolve, reject) => {
    spawn('docker', buildArguments(build, image), { stdio: ['ignore', 'inherit', 'inherit'] })
      .on('error', reject)
      .on('close', resolve);
  });
  if (code !== 0) throw new Error(`docker build of ${image} failed (exit code ${code}); see the build output above`);
}

export class ImageStore {
  /** The runner's Docker: DOCKER_HOST, or another daemon's endpoint. */
  constructor(private readonly docker: Endpoint = endpointOf(process.env)) {}

  async inspect(reference: string): Promise<LocalImage | undefined> {
    let info: ImageInspect;
    try {
      info = await engineGetJson<ImageInspect>(this.docker, `/images/${imagePath(reference)}/json`);
    } catch (error) {
      if (error instanceof EngineApiError && error.statusCode === 404) return undefined;
      throw new Error(`cannot ask the runner's Docker about ${reference}: ${(error as Error).message}`, { cause: error });
    }
    const layers = info.RootFS?.Layers ?? [];
    const image: LocalImage = {
      reference,
      id: info.Id,
      storeId: info.Id,
      sizeBytes: info.Size,
      layers,
      layerBlobs: layers,
      compressedLayers: false,
      exposedPorts: Object.keys(info.Config?.ExposedPorts ?? {}),
      env: info.Config?.Env ?? [],
    };
    // Only the containerd store describes images by a descriptor; its ID is not the config's digest.
    if (!info.Descriptor) return image;
    const manifest = await this.manifestFromSave(reference, info.Id, { os: info.Os, architecture: info.Architecture });
    if (!manifest?.config || !manifest.layers || manifest.layers.length !== layers.length) {
      throw new Error(`cannot find the manifest of ${reference} (${shortId(info.Id)}) in the runner's docker save`);
    }
    return {
      ...image,
      id: manifest.config.digest,
      layerBlobs: manifest.layers.map((layer) => layer.digest),
      compressedLayers: manifest.layers.some((layer, i) => layer.digest !== layers[i]), // an uncompressed blob's digest is its diff ID
    };
  }

  /**
   * Reads the runner's `docker save` only as far as the image's manifest (blobs come in digest
   * order, the JSON ones are small): the containerd store tells no config digest otherwise.
   */
  private async manifestFromSave(reference: string, top: string, platform: { os: string; architecture: string }): Promise<OciManifest | undefined> {
    const saved = await this.save(reference);
    const blobs = new Map<string, OciManifest>();
    const extract = tar.extract();
    return new Promise((resolve, reject) => {
      let found: OciManifest | undefined;
      const finish = () => {
        saved.unpipe(extract);
        (saved as Readable & { destroy: () => void }).destroy();
        resolve(found);
      };
      extract.on('entry', (header, stream, next) => {
        const m = header.name.match(BLOB);
        if (!m || (header.size ?? 0) > 4 * 1024 * 1024) {
          stream.on('end', next);
          stream.resume();
          return;
        }
        void readAll(stream).then((content) => {
          try {
            const parsed = JSON.parse(content.toString('utf8')) as OciManifest;
            if (parsed && typeof parsed === 'object') blobs.set(`sha256:${m[1]}`, parsed);
          } catch {
            // not JSON: a small layer
          }
          found = resolveManifest(top, blobs, platform);
          if (found) finish();
          else next();
        });
      });
      extract.on('finish', () => resolve(found));
      extract.on('error', reject);
      saved.on('error', reject);
      saved.pipe(extract);
    });
  }

  /** The image as a `docker save` tar stream, tagged with its reference. */
  async save(reference: string): Promise<Readable> {
    return engineGet(this.docker, `/images/${imagePath(reference)}/get`);
  }
}

/** A reference as the API's path takes it: slashes and the tag's colon kept, anything else escaped. */
export function imagePath(reference: string): string {
  return reference.split('/').map(encodeURIComponent).join('/').replace(/%3A/gi, ':').replace(/%40/gi, '@');
}
