// The GitHub runner's side of a step: inputs from INPUT_* variables, outputs and the job summary in
// the files it names, everything else as workflow commands on standard output. The few calls the
// action makes, written to the runner's documented protocol (as @actions/core writes them), so the
// bundle does not carry @actions/core's HTTP client (an OIDC token the action never asks for).
import { randomUUID } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { EOL } from 'node:os';

/** An input as the runner passes it: INPUT_ and the name in upper case, spaces as `_`; trimmed. */
export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

/** A workflow command's data: `%`, CR and LF escaped, so a message is one command however many lines. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function command(name: string, message: string, property?: string): void {
  process.stdout.write(`::${name}${property ? ` ${property}` : ''}::${escapeData(message)}${EOL}`);
}

export function info(message: string): void {
  process.stdout.write(message + EOL);
}

export function warning(message: string): void {
  command('warning', message);
}

/** The step fails (exit code 1) with this message as its error annotation. */
export function setFailed(message: string): void {
  process.exitCode = 1;
  command('error', message);
}

/** The runner masks the value in every later line of the log. */
export function setSecret(value: string): void {
  command('add-mask', value);
}

/** `name<<DELIMITER` form, as the runner reads GITHUB_OUTPUT; the delimiter is random and checked absent. */
export function fileCommandEntry(name: string, value: string, delimiter = `ghadelimiter_${randomUUID()}`): string {
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`output ${name} contains its delimiter ${delimiter}`);
  return `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`;
}

export function setOutput(name: string, value: string): void {
  const file = process.env.GITHUB_OUTPUT;
  if (file) appendFileSync(file, fileCommandEntry(name, value));
  else command('set-output', value, `name=${name}`);
}

/** A folded group of log lines around the work. */
export async function group<T>(title: string, work: () => Promise<T>): Promise<T> {
  command('group', title);
  try {
    return await work();
  } finally {
    command('endgroup', '');
  }
}

/** The step's job summary (the file GITHUB_STEP_SUMMARY names) replaced by this Markdown. */
export function writeSummary(file: string, markdown: string): void {
  writeFileSync(file, markdown);
}
