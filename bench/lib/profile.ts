// Reads a V8 .cpuprofile (node --cpu-prof) of the sync process and says where its main thread
// spent the wall time: idle (waiting on the API or the database), JSON and record mapping, the
// database driver, HTTP, garbage collection, the rest. JSON.parse and JSON.stringify have no
// frames of their own in V8 profiles; their time lands in the functions that call them, which
// is why those callers are listed by name under "JSON".
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  wallMs: number;
  /** Share of wall time the main thread was not idle. */
  busyShare: number;
  /** Share of wall time per category. */
  categories: Record<string, number>;
  /** JSON parse/stringify plus record validation and mapping, as a share of wall time. */
  jsonAndMappingShare: number;
  top: { name: string; share: number }[];
}

// Callers whose self time is mostly JSON.parse / JSON.stringify of pages and records, and the
// scan that finds each record of a page (provet/raw-records.ts).
const JSON_CALLERS = new Set([
  'parseBody',
  'resultsLayout',
  'elements',
  'skipValue',
  'skipString',
  'skipNumber',
  'versionedUpsert',
  'replaceFieldValues',
  'replacePhoneNumbers',
  'upsertDefinitions',
  'parse',
  'stringify',
]);

function categoryOf(frame: ProfileNode['callFrame']): string {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)' || fn === '(root)') return 'other';
  if (JSON_CALLERS.has(fn)) return 'json';
  if (
    url.includes('node_modules/zod') ||
    url.includes('/sync/rows') ||
    url.includes('/provet/records') ||
    url.includes('/provet/pages')
  ) {
    return 'mapping';
  }
  if (url.includes('node_modules/pg') || url.includes('/db/')) return 'database';
  if (url.includes('undici') || url.includes('node:internal/deps/undici') || url.includes('/provet/')) return 'http';
  if (url.includes('pino') || url.includes('thread-stream') || url.includes('sonic-boom')) return 'logging';
  return 'other';
}

function shortName(frame: ProfileNode['callFrame']): string {
  const file = frame.url.replace(/^.*\/(node_modules\/[^/]+|dist|src)\//, '$1/');
  return file ? `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}` : frame.functionName;
}

export async function summariseProfile(path: string): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const wallUs = profile.endTime - profile.startTime;
  const categories: Record<string, number> = {};
  const byName = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const category = categoryOf(frame);
    categories[category] = (categories[category] ?? 0) + us / wallUs;
    if (category !== 'idle') byName.set(shortName(frame), (byName.get(shortName(frame)) ?? 0) + us / wallUs);
  }
  const top = [...byName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([name, share]) => ({ name, share }));
  return {
    wallMs: wallUs / 1000,
    busyShare: 1 - (categories.idle ?? 0),
    categories,
    jsonAndMappingShare: (categories.json ?? 0) + (categories.mapping ?? 0),
    top,
  };
}
