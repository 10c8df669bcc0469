import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/inputs/config';
import { repositoryOf } from '../../../src/inputs/compose';
import { composeVersionOk, sendableImages } from '../../../src/engines/compose';
import { readerFor } from '../../helpers/action-inputs';
import { inputErrorOf } from '../../helpers/input-error';
import { baseInputs, composeWorkspace, filesOf } from '../../helpers/fixtures';

const read = (given: Record<string, string>, workspace: Record<string, string> = composeWorkspace()) =>
  readConfig(readerFor({ ...baseInputs(), engine: 'compose', 'compose-service': 'web', ...given }), { files: filesOf(workspace) });
const errorOf = (given: Record<string, string>, workspace: Record<string, string> = composeWorkspace()) => inputErrorOf(() => read(given, workspace));

const SIMPLE = (extra = '') => `services:\n  web:\n    image: shop\n${extra}  db:\n    image: postgres:15\n`;

describe('engine: compose: the compose files read on the runner (issue 24)', () => {
  it('sorts the services: the web one, workers of the app image (any tag), accessories; ships the files they name', () => {
    const { deploy, secrets } = read({});
    expect(deploy.compose).toMatchObject({
      composeFiles: ['compose.yaml'],
      service: 'web',
      accessories: [{ service: 'db', image: 'postgres:15' }],
      removeVolumes: false,
    });
    expect(deploy.workers).toEqual([{ name: 'jobs', replicas: 2, words: [] }]);
    expect(deploy.compose?.files.map((file) => file.path)).toEqual(['compose.yaml', 'app.env']);
    // An env file's values are secrets: kept out of every log and summary.
    expect(secrets).toContain('postgres://app:s3cret-password@db/app');
    expect(secrets).toContain('s3cret-password');
  });

  it.each([
    ['the only service of the image', { 'compose.yaml': SIMPLE() }, '', 'web'],
    ['the repository with another tag', { 'compose.yaml': SIMPLE().replace('image: shop', 'image: shop:latest') }, '', 'web'],
    ['the one given', { 'compose.yaml': SIMPLE() }, 'db', 'db'],
  ])('finds the web service: %s', (_name, workspace, given, service) => {
    expect(read({ 'compose-service': given }, workspace).deploy.compose?.service).toBe(service);
  });

  it('reads compose.yaml with its override as docker compose does, or the files given, in order', () => {
    const workspace = { 'compose.yaml': SIMPLE(), 'compose.override.yaml': 'services:\n  web:\n    environment: { A: "1" }\n' };
    expect(read({ 'compose-service': '' }, workspace).deploy.compose?.composeFiles).toEqual(['compose.yaml', 'compose.override.yaml']);
    const nested = { 'deploy/compose.yml': SIMPLE(), 'deploy/prod.yml': 'services:\n  web:\n    env_file: [{ path: secrets/prod.env, required: false }]\n' };
    const compose = read({ 'compose-file': 'deploy/compose.yml\ndeploy/prod.yml', 'compose-service': '' }, nested).deploy.compose;
    expect(compose?.composeFiles).toEqual(['compose.yml', 'prod.yml']);
    expect(compose?.files.map((file) => file.path)).toEqual(['compose.yml', 'prod.yml']); // the optional env file is absent
  });

  it('ships .env, file secrets and configs; changes of the app services redeploy them, an accessory change does not', () => {
    const withSecrets = `${SIMPLE()}secrets:\n  key: { file: ./key.txt }\n`;
    const compose = read({ 'compose-service': '' }, { 'compose.yaml': withSecrets, 'key.txt': 'k', '.env': 'TAG=1\n' }).deploy.compose;
    expect(compose?.files.map((file) => file.path)).toEqual(['compose.yaml', 'key.txt', '.env']);
    const hash = (text: string) => read({ 'compose-service': '' }, { 'compose.yaml': text }).deploy.compose?.appHash;
    expect(hash(SIMPLE())).not.toBe(hash(SIMPLE('    command: ["/app", "--fast"]\n')));
  });

  it.each([
    ['no compose file', {}, {}, 'compose-file', 'none of compose.yaml'],
    ['a file given that is missing', { 'compose-file': 'prod.yml' }, {}, 'compose-file', 'prod.yml does not exist'],
    ['invalid YAML', {}, { 'compose.yaml': 'services: [' }, 'compose-file', 'is not valid YAML'],
    ['no services', {}, { 'compose.yaml': 'volumes: {}\n' }, 'compose-file', 'define no service'],
    ['include', {}, { 'compose.yaml': `include: [other.yaml]\n${SIMPLE()}` }, 'compose-file', 'uses include'],
    ['extends of another file', {}, { 'compose.yaml': SIMPLE('    extends: { file: base.yaml, service: web }\n') }, 'compose-file', 'extends a service of another file'],
    ['web with container_name', {}, { 'compose.yaml': SIMPLE('    container_name: shop\n') }, 'compose-file', 'container_name'],
    ['a service without image', {}, { 'compose.yaml': `${SIMPLE()}  tool:\n    build: ./tool\n` }, 'compose-file', 'service tool has no image'],
    ['a file outside the project', { 'compose-file': 'compose.yaml\n../other.yaml' }, { 'compose.yaml': SIMPLE() }, 'compose-file', 'outside the project directory'],
    ['an env_file outside the project', {}, { 'compose.yaml': SIMPLE('    env_file: /etc/shop.env\n') }, 'compose-file', 'outside the project directory'],
    ['a missing env_file', {}, { 'compose.yaml': SIMPLE('    env_file: prod.env\n') }, 'compose-file', 'prod.env does not exist'],
    ['replicas out of range', {}, { 'compose.yaml': `${SIMPLE()}  jobs:\n    image: shop\n    scale: 50\n` }, 'compose-file', 'replicas 50'],
    ['no service of the image', { 'compose-service': '' }, { 'compose.yaml': 'services:\n  db:\n    image: postgres\n' }, 'compose-service', 'no service has image: shop'],
    ['several services of the image', { 'compose-service': '' }, undefined, 'compose-service', 'several services run shop (web, jobs)'],
    ['a service that is not there', { 'compose-service': 'api' }, undefined, 'compose-service', "'api' is not a service"],
    ['volumes', { volumes: 'data:/data' }, undefined, 'volumes', 'in the compose file'],
    ['docker-args', { 'docker-args': '--cpus 1' }, undefined, 'docker-args', 'in the compose file'],
    ['workers', { workers: 'q: run' }, undefined, 'workers', 'as a service of the compose file'],
  ])('refuses %s', (_name, given, workspace, input, problem) => {
    const error = errorOf(given as Record<string, string>, (workspace as Record<string, string> | undefined) ?? composeWorkspace());
    expect(error.input).toBe(input);
    expect(error.message).toContain(problem);
  });

  it('refuses the compose inputs with another engine, and reads no file for commands other than deploy', () => {
    expect(inputErrorOf(() => readConfig(readerFor({ ...baseInputs(), 'compose-file': 'compose.yaml' }))).input).toBe('compose-file');
    const rollback = readConfig(readerFor({ ...baseInputs(), engine: 'compose', command: 'rollback', 'remove-volumes': 'true' }));
    expect(rollback.deploy.compose).toEqual({ composeFiles: [], files: [], service: '', accessories: [], removeVolumes: true, appHash: '' });
  });

  it.each([
    ['shop', 'shop'],
    ['shop:1.2', 'shop'],
    ['registry:5000/team/shop:1.2', 'registry:5000/team/shop'],
    ['registry:5000/shop', 'registry:5000/shop'],
    [`shop@sha256:${'a'.repeat(64)}`, 'shop'],
  ])('the repository of %s is %s', (image, repository) => {
    expect(repositoryOf(image)).toBe(repository);
  });

  it('sends the accessory images the runner may have: named plainly, once, not the app', () => {
    const accessories = [
      { service: 'db', image: 'postgres:15' },
      { service: 'replica', image: 'postgres:15' },
      { service: 'x', image: '${REGISTRY}/x:1' },
      { service: 'self', image: 'shop:1' },
    ];
    expect(sendableImages({ accessories }, 'shop:1')).toEqual(['postgres:15']);
  });

  it.each([
    ['2.40.3-3', true],
    ['v2.20.0', true],
    ['2.19.1', false],
    ['1.29.2', false],
    ['3.0.0', true],
    ['docker: unknown command', false],
  ])('Compose %s is usable: %s', (version, ok) => {
    expect(composeVersionOk(version)).toBe(ok);
  });
});
