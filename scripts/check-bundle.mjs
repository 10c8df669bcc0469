// Checks the ncc bundle GitHub will run: the deploy script travelled with it, and no native addon
// (ssh2's optional sshcrypto or cpu-features) slipped in: those are built for one Node ABI and one
// platform, and ssh2's pure-JS code must be what runs on any runner.
import { readdirSync, existsSync } from 'node:fs';

const files = readdirSync('dist', { recursive: true }).map(String);
const native = files.filter((f) => f.endsWith('.node'));
const problems = [];
if (native.length) problems.push(`native addons in dist/: ${native.join(', ')}`);
if (!existsSync('dist/index.js')) problems.push('dist/index.js is missing');
// Only what runs on a runner: the bundle, its licenses and the server scripts (no Windows helper
// such as ssh2's pagent.exe, no protocol files of a client the action does not use).
const extra = files.filter((f) => !['index.js', 'licenses.txt', 'scripts'].includes(f) && !f.startsWith('scripts/'));
if (extra.length) problems.push(`dist/ holds files nothing runs: ${extra.join(', ')}`);
// src/remote/script.ts reads the server's shell files from dist/scripts/, next to the bundle.
for (const file of readdirSync('src/remote/scripts')) if (!existsSync(`dist/scripts/${file}`)) problems.push(`dist/scripts/${file} is missing`);
if (problems.length) {
  console.error(`check-bundle: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`check-bundle: dist/ holds ${files.length} files, no native addons`);
