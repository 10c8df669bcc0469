import * as exec from '@actions/exec';
import Docker from 'dockerode';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { BuildConfig } from './config';

/** The image on the runner, identified by its ID (the digest of its config). */
export interface LocalImage {
  reference: string;
  id: string; // sha256:...
  sizeBytes: number;
  layers: string[]; // diff IDs, base first
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

/** Builds with the docker CLI, so the runner's BuildKit and buildx setup apply. */
export async function buildImage(build: BuildConfig, image: string): Promise<void> {
  const code = await exec.exec('docker', buildArguments(build, image), { ignoreReturnCode: true });
  if (code !== 0) throw new Error(`docker build of ${image} failed (exit code ${code}); see the build output above`);
}

export class ImageStore {
  constructor(private readonly docker: Docker = new Docker()) {}

  async inspect(reference: string): Promise<LocalImage | undefined> {
    try {
      const info = await this.docker.getImage(reference).inspect();
      return { reference, id: info.Id, sizeBytes: info.Size, layers: info.RootFS?.Layers ?? [] };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw new Error(`cannot ask the runner's Docker about ${reference}: ${(error as Error).message}`);
    }
  }

  /** The image as a `docker save` tar stream, tagged with its reference. */
  async save(reference: string): Promise<Readable> {
    return (await this.docker.getImage(reference).get()) as unknown as Readable;
  }
}
