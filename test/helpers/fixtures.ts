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
