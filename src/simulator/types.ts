// The in-process control surface of a running simulator: what startSimulator (index.ts) returns
// and what the HTTP admin routes (admin.ts) drive. A leaf, so admin.ts needn't import index.ts.
import type { FaultSettings } from './faults.js';
import type { QuirkSettings } from './quirks.js';

export interface Simulator {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly adminUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly legacyToken: string | null;
  now(): Date;
  setClockOffset(ms: number): void;
  createClient(fields: Record<string, unknown>): Record<string, unknown>;
  updateClient(id: number, patch: Record<string, unknown>): Record<string, unknown>;
  createPatient(fields: Record<string, unknown>): Record<string, unknown>;
  updatePatient(id: number, patch: Record<string, unknown>): Record<string, unknown>;
  setCustomFieldValue(objectType: 'client' | 'patient', objectId: number, fieldId: number, value: unknown): void;
  removeCustomFieldValue(objectType: 'client' | 'patient', objectId: number, fieldId: number): void;
  addPhoneNumber(
    clientId: number,
    fields: { phone_number: string; type_code?: number; description?: string },
  ): Record<string, unknown>;
  updatePhoneNumber(id: number, patch: Record<string, unknown>): Record<string, unknown>;
  removePhoneNumber(id: number): void;
  deleteClient(id: number): void;
  setRecordRaw(kind: 'client' | 'patient', id: number, raw: Record<string, unknown>): void;
  /** Gives the records one shared `modified` (for page-boundary tests); moves nothing else. */
  touchRecords(kind: 'client' | 'patient', ids: readonly number[], modified: Date | string): void;
  /** Replaces the quirks: parameters the record lists drop unread, their order when none is asked. */
  setQuirks(quirks: QuirkSettings): void;
  /** scope: 'global' or an endpoint key such as 'GET client/'; null clears. */
  setFaults(scope: string, faults: FaultSettings | null): void;
  /** Per endpoint key ('GET client/', 'POST oauth2/token/'); rate-limited requests count under '<key> 429' instead. */
  requestCounts(): Record<string, number>;
  resetRequestCounts(): void;
  /** Empties the rate-limit windows. */
  resetRateLimits(): void;
  exportState(): {
    clients: Record<string, unknown>[];
    patients: Record<string, unknown>[];
    phoneNumbers: Record<string, unknown>[];
    customFields: Record<string, unknown>[];
    species: Record<string, unknown>[];
    breeds: Record<string, unknown>[];
  };
  close(): Promise<void>;
}
