// Budget arithmetic: what a request costs, what a set of requests uses of Provet's per-endpoint
// rate limits, and the floors the scenarios are measured against. Pure functions.
import { DEFAULT_RATE_LIMITS } from '../../src/simulator/index.js';

/** Per endpoint key: API requests answered (not 429), their budget units, and 429s. */
export type TapCounts = Record<string, { requests: number; costUnits: number; throttled: number }>;

/** Endpoint key as the simulator's limiter spells it: 'GET client/', 'GET patient/<id>/custom_field_values/'. */
export function endpointOf(method: string, path: string): string {
  const segments = path.split('/').filter((s) => s !== '');
  return `${method.toUpperCase()} ${segments.map((s) => (/^\d+$/.test(s) ? '<id>/' : `${s}/`)).join('')}`;
}

/** A page of 50 costs 1; larger pages proportionally, clamped at 1000 (20 units). */
export function requestCost(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize <= 0) return 1;
  return Math.ceil(Math.min(pageSize, 1000) / 50);
}

/** Requests per window; the literal reading's custom field value requests share one bucket of 100. */
const LIMITS: Readonly<Record<string, number>> = { ...DEFAULT_RATE_LIMITS, 'GET custom_field_values/': 100 };

/**
 * Budget used, in windows: the sum over endpoints of units spent / that endpoint's limit. It is
 * also the wall-time floor in windows when the endpoints are read one after another (the summed
 * floor); reading them at once, the floor is parallelWindows'.
 */
export function windowsUsed(units: Record<string, number>): number {
  let sum = 0;
  for (const [key, n] of Object.entries(units)) {
    const limit = LIMITS[key];
    if (limit !== undefined && n > 0) sum += n / limit; // endpoints without a limit cost no budget
  }
  return sum;
}

/**
 * The wall-time floor in windows when every endpoint is read at the same time: Provet's limits
 * are per endpoint and add up, so the endpoint that needs the most windows alone bounds the run.
 */
export function parallelWindows(units: Record<string, number>): number {
  let most = 0;
  for (const [key, n] of Object.entries(units)) {
    const limit = LIMITS[key];
    if (limit !== undefined && n > 0) most = Math.max(most, n / limit);
  }
  return most;
}

export function unitsOf(tap: TapCounts): Record<string, number> {
  return Object.fromEntries(Object.entries(tap).map(([key, t]) => [key, t.costUnits]));
}

export function totals(tap: TapCounts): { requests: number; costUnits: number; throttled: number } {
  const sum = { requests: 0, costUnits: 0, throttled: 0 };
  for (const t of Object.values(tap)) {
    sum.requests += t.requests;
    sum.costUnits += t.costUnits;
    sum.throttled += t.throttled;
  }
  return sum;
}

/** The three small definition lists every run reads whole (one request of cost 1 each). */
export const DEFINITION_UNITS: Record<string, number> = {
  'GET custom_fields/': 1,
  'GET codelist/species/': 1,
  'GET codelist/breeds/': 1,
};

/** Units to read `records` rows by a page scan at the page size `pageSize` (what the sync asks for). */
export function scanUnits(records: number, pageSize: number): number {
  const pages = Math.max(1, Math.ceil(records / pageSize));
  return pages * requestCost(pageSize);
}

/**
 * The fewest units any client can spend to page-scan `records` rows: page sizes are the
 * client's choice (keyset paging lets the last page be smaller), so it is one unit per 50 rows.
 */
export function minimumScanUnits(records: number): number {
  return Math.max(1, Math.ceil(records / 50));
}

export function addUnits(...parts: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const part of parts) for (const [key, n] of Object.entries(part)) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}
