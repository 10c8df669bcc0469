// How numbers and ids are shown to people, in logs, summaries and outputs.

/** An image or config digest as logs and summaries show it: its first 12 hex digits ('' for none). */
export function shortId(id: string | undefined | null): string {
  return id ? id.replace(/^sha256:/, '').slice(0, 12) : '';
}

/** "1.2s", "2m 5s", "1h 3m": short and readable, for logs and summaries. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h >= 48) return `${Math.floor(h / 24)}d ${h % 24}h`;
  return h > 0 ? `${h}h ${m}m` : `${m}m ${rest}s`;
}

const MiB = 1024 * 1024;

/** "10 B", "2.0 KiB", "3.0 MiB", "1.50 GiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < MiB) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  return `${(bytes / 1024 / MiB).toFixed(2)} GiB`;
}
