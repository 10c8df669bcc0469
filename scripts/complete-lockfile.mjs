// The npm registry reachable here does not serve every platform's optional binary (e.g. rollup's
// darwin/windows builds), so `npm install` leaves them out of package-lock.json and `npm ci` then
// refuses the lock as out of sync. This adds the missing optional entries with their os/cpu
// limits, so npm ci skips them on this platform exactly as it would with a complete lock.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path.slice(0, path.lastIndexOf('node_modules/') + 'node_modules/'.length) || 'node_modules/';
    const key = `${path}/node_modules/${name}` in lock.packages ? null : `${base}${name}`;
    if (!key || lock.packages[key]) continue;
    let meta = {};
    try {
      meta = JSON.parse(execFileSync('npm', ['view', `${name}@${version}`, 'os', 'cpu', 'libc', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }) || '{}');
    } catch {
      /* unknown to this registry: guess from the name below */
    }
    const guess = name.match(/-(android|darwin|freebsd|linux|win32|openbsd|sunos|aix|netbsd|openharmony)-([a-z0-9]+)/);
    lock.packages[key] = {
      version: String(version).replace(/^[\^~]/, ''),
      dev: entry.dev || undefined,
      optional: true,
      os: meta.os ?? (guess ? [guess[1]] : ['none']),
      cpu: meta.cpu ?? (guess ? [guess[2]] : ['none']),
      ...(meta.libc ? { libc: meta.libc } : {}),
    };
    added++;
  }
}
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
console.log(`complete-lockfile: added ${added} optional platform entries`);
