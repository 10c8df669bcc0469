/**
 * Quotes a value for bash so that it is always one word with exactly this content, whatever it
 * holds (quotes, $, backticks, newlines, globs). Every value that reaches the server goes through here.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a value for the server contains a NUL byte');
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
