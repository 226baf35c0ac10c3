// Provet's webhook requests: only the type and id of what changed, form-encoded or JSON
// (`client_id=123`, `patient_id=456`). They are hints, never data: nothing but the ids is read.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface Hint {
  kind: 'client' | 'patient';
  id: number;
}

/** Compares the secret from the path with the configured one in time independent of the content. */
export function secretMatches(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so neither the content nor the length leaks through timing.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export class BadWebhookBodyError extends Error {
  readonly code = 'WEBHOOK_BAD_BODY';
}

const ID = /^[1-9]\d{0,15}$/;

/** The hints in a body; an empty list when it names nothing this mirror keeps (another trigger). */
export function parseHints(contentType: string | undefined, body: string): Hint[] {
  const fields = readFields(contentType ?? '', body);
  const hints: Hint[] = [];
  for (const [name, kind] of [
    ['client_id', 'client'],
    ['patient_id', 'patient'],
  ] as const) {
    const value = fields.get(name);
    if (value === undefined) continue;
    if (!ID.test(value)) throw new BadWebhookBodyError(`${name} is not a record id`);
    hints.push({ kind, id: Number(value) });
  }
  return hints;
}

function readFields(contentType: string, body: string): Map<string, string> {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const looksJson = type === 'application/json' || (type === '' && body.trimStart().startsWith('{'));
  if (looksJson) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new BadWebhookBodyError('the body is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new BadWebhookBodyError('the body is not a JSON object');
    const fields = new Map<string, string>();
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value === 'number' || typeof value === 'string') fields.set(key, String(value));
    }
    return fields;
  }
  if (type === 'application/x-www-form-urlencoded' || type === '') return new Map(new URLSearchParams(body));
  throw new BadWebhookBodyError(`unsupported content type ${type}`);
}
