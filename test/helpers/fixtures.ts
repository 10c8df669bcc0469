import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Throwaway keys made for these tests only; they unlock nothing. */
export const fixtureKey = (name: string): string => readFileSync(join(__dirname, '../fixtures', name), 'utf8');

export const baseInputs = (): Record<string, string> => ({
  host: 'deploy.example.test',
  user: 'deploy',
  'ssh-key': fixtureKey('ed25519'),
  'host-fingerprint': 'SHA256:' + 'A'.repeat(43),
  image: 'shop:1.2.3',
  app: 'shop',
});

/** A compose app (web + Postgres + a worker of the app's image) as the runner's workspace has it. */
export const composeWorkspace = (image = 'shop:1.2.3'): Record<string, string> => ({
  'compose.yaml': `services:
  web:
    image: ${image}
    env_file: app.env
    depends_on: [db]
  jobs:
    image: ${image}
    command: ["/app", "jobs"]
    deploy: { replicas: 2 }
  db:
    image: postgres:15
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db
    volumes: [pgdata:/var/lib/postgresql/data]
volumes:
  pgdata: {}
`,
  'app.env': 'DATABASE_URL=postgres://app:s3cret-password@db/app\nMODE=production\n',
});

/** The FileReader of a workspace given as path → text. */
export const filesOf =
  (workspace: Record<string, string>) =>
  (path: string): string | undefined =>
    workspace[path];
