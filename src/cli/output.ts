// Human tables and stable JSON for command output.

/** Columns padded to their widest cell; the header row first. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** JSON with bigints as numbers (as strings beyond 2^53), keys in the order given. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v)) + '\n';
}

export function out(text: string): void {
  process.stdout.write(text);
}

/** One line on stderr per warning: what a command did or will do that may not be what the user wants. */
export function warn(lines: string[]): void {
  for (const l of lines) process.stderr.write(`quicsteer: warning: ${l}\n`);
}
