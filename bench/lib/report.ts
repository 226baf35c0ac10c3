// The results: one row per figure with its target and whether it was met, printed as a table
// and written to bench/results/latest.json with the machine it ran on.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem, type } from 'node:os';
import { dirname } from 'node:path';

export interface ResultRow {
  scenario: string;
  figure: string;
  value: string;
  /** Empty when the figure is informative only. */
  target: string;
  /** null: no target for this figure (or not measured in this mode). */
  met: boolean | null;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  postgres: string;
  database: string;
}

export function machineInfo(postgresVersion: string, database: string): Machine {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    postgres: postgresVersion,
    database,
  };
}

const metText = (met: boolean | null) => (met === null ? '' : met ? 'yes' : 'NO');

/** A plain-text table for the terminal. */
export function formatTable(rows: readonly ResultRow[]): string {
  const header: ResultRow = { scenario: 'scenario', figure: 'figure', value: 'value', target: 'target', met: null };
  const cells = [header, ...rows].map((r, i) => [
    r.scenario,
    r.figure,
    r.value,
    r.target,
    i === 0 ? 'met' : metText(r.met),
  ]);
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** The same table in Markdown, for the README. */
export function formatMarkdown(rows: readonly ResultRow[]): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  return [
    '| scenario | figure | value | target | met |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${escape(r.scenario)} | ${escape(r.figure)} | ${escape(r.value)} | ${escape(r.target)} | ${metText(r.met)} |`,
    ),
  ].join('\n');
}

export async function writeResults(path: string, content: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(content, null, 2)}\n`);
}

/** The middle value (the upper of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export const fmt = {
  s: (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`,
  x: (ratio: number) => `${ratio.toFixed(2)}x`,
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  mb: (mb: number | null) => (mb === null ? 'n/a' : `${mb.toFixed(0)} MB`),
  pct: (share: number) => `${(share * 100).toFixed(0)}%`,
};
