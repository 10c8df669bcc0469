/** An image or config digest as logs and summaries show it: its first 12 hex digits ('' for none). */
export function shortId(id: string | undefined | null): string {
  return id ? id.replace(/^sha256:/, '').slice(0, 12) : '';
}
