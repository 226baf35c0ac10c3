// Pet owners' personal data (names, emails, addresses, phone numbers, notes) stays out of every log
// line at info or above, out of sync_runs.error, and out of every HTTP answer, for the daemon and
// for a fleet worker, even at LOG_LEVEL=debug and even for records the sync rejects. The seeded
// values do reach the mirror and sync_rejects, so the test cannot pass by seeding nothing.
import { randomInt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startCli, waitForOutput, type Running } from '../faults/cli-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { cliEnv, eventually, startDaemon, type DaemonProcess } from '../support/daemon-process.js';

const SECRET = 'personal-data-webhook-secret-0123456789';
const FLEET_WEBHOOK_SECRET = 'personal-data-fleet-secret-0123456789';
const LISTENING = /"port":(\d+)[^\n]*"msg":"HTTP server listening"/;
const INFO = 30;

/** Letters only, and none of a-f: it cannot turn up by chance inside an id, a hex name or a number. */
function token(length: number): string {
  const alphabet = 'ghjkmnpqrstvwxyz';
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
}

const TOKEN = token(10);

interface Owner {
  id: number;
  firstname: string;
  lastname: string;
  email: string;
  phone: string;
  street: string;
  organization: string;
  remarks: string;
  idNumber: string;
  criticalNotes: string;
  referral: string;
}

function owner(i: number): Omit<Owner, 'id'> {
  const tag = `${TOKEN}${'abcdefghij'[i]}`;
  return {
    firstname: `Zelda-Quux-${tag}`,
    lastname: `Vorstrom-${tag}`,
    email: `leak-${tag}@example.test`,
    phone: `+358 40 ${String(randomInt(1_000_000, 9_999_999))}`,
    street: `${i + 12} Hiddenlane ${tag}`,
    organization: `Quuxcorp ${tag} Oy`,
    remarks: `Owner remark ${tag}`,
    idNumber: `IDN-${tag}`,
    criticalNotes: `Bites the vet ${tag}`,
    referral: `Referred by ${tag}`,
  };
}

/** Every value of an owner that must not show, as it was seeded and as a leak might reshape it. */
function needles(o: Owner): string[] {
  return [
    o.firstname,
    o.lastname,
    o.email,
    o.email.split('@')[0]!,
    o.phone,
    o.phone.replaceAll(' ', ''),
    o.street,
    o.organization,
    o.remarks,
    o.idNumber,
    o.criticalNotes,
    o.referral,
    TOKEN,
  ].map((s) => s.toLowerCase());
}

let sim: Simulator;
let testDb: TestDatabase;
let db: pg.Pool;
const owners: Owner[] = [];
/** Clients the sync rejects, each for another reason, with personal data in the rest of the record. */
const rejected = new Map<number, string>();
let rejectedPatient: { id: number; remarks: string };
/** Every body an HTTP answer brought the test, labelled with where it came from. */
const answers: { from: string; body: string }[] = [];

async function answer(from: string, res: Response): Promise<Response> {
  answers.push({ from, body: await res.clone().text() });
  return res;
}

interface LogLine {
  level: number;
  text: string;
}

/** A process's output as lines; anything that is not a pino line counts as an error line. */
function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((text) => {
      try {
        const parsed = JSON.parse(text) as { level?: unknown };
        return { level: typeof parsed.level === 'number' ? parsed.level : 60, text };
      } catch {
        return { level: 60, text };
      }
    });
}

/** A value only PostgreSQL refuses; not personal, but it stands for any value a refusal could quote. */
const REFUSED_INTEGER = 2 ** 40;

const allNeedles = () => [
  ...new Set([...owners.flatMap(needles), rejectedPatient.remarks.toLowerCase(), String(REFUSED_INTEGER)]),
];

/** Each text (a log line, an answer) that holds a seeded value, with the value. */
function leaks(texts: { from: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { from, text } of texts) {
    const lower = text.toLowerCase();
    for (const needle of allNeedles()) if (lower.includes(needle)) found.push(`${from}: "${needle}" in ${text}`);
  }
  return found;
}

function seed(count: number): void {
  for (let i = 0; i < count; i++) {
    const o = owner(i);
    const created = sim.createClient({
      firstname: o.firstname,
      lastname: o.lastname,
      email: o.email,
      street_address: o.street,
      organization_name: o.organization,
      remarks: o.remarks,
      id_number: o.idNumber,
      critical_notes: o.criticalNotes,
      city: 'Helsinki',
      zip_code: '00100',
    });
    const id = Number(created.id);
    sim.addPhoneNumber(id, { phone_number: o.phone, type_code: 1, description: `mobile of ${o.firstname}` });
    sim.setCustomFieldValue('client', id, 41, o.referral);
    owners.push({ id, ...o });
  }
  const rendered = (id: number) => sim.exportState().clients.find((c) => Number(c.id) === id)!;
  const reject = (o: Owner, why: string, patch: Record<string, unknown>) => {
    sim.setRecordRaw('client', o.id, { ...rendered(o.id), ...patch });
    rejected.set(o.id, why);
  };
  // Wrong types whose values are themselves personal data, an oversized name, and a value only
  // PostgreSQL refuses (an integer too large for its column): each of the paths a reject takes.
  reject(owners[2]!, 'email', { email: { address: owners[2]!.email } });
  reject(owners[3]!, 'customer_type', { customer_type: owners[3]!.lastname });
  reject(owners[4]!, 'firstname', { firstname: `${owners[4]!.firstname} ${'x'.repeat(200_000)}` });
  reject(owners[5]!, 'phone_numbers', { phone_numbers: [{ id: owners[5]!.phone, number: owners[5]!.phone }] });
  reject(owners[6]!, 'database refused', { customer_type: REFUSED_INTEGER });
  reject(owners[7]!, 'modified', { modified: owners[7]!.email });
  // A patient's remarks may name its owner: one rejected for a bad date, with remarks.
  const patientId = Number(sim.exportState().patients[0]!.id);
  rejectedPatient = { id: patientId, remarks: `Patient remark ${TOKEN}p` };
  sim.setRecordRaw('patient', patientId, {
    ...sim.exportState().patients.find((p) => Number(p.id) === patientId)!,
    remarks: rejectedPatient.remarks,
    date_of_birth: rejectedPatient.remarks,
  });
}

beforeAll(async () => {
  sim = await startSimulator({ clients: 30, seed: 77 });
  seed(10);
  testDb = await createTestDatabase();
  // The daemon's mirror by default; the fleet's schemas are named in full.
  db = new pg.Pool({ connectionString: testDb.url, options: '-c search_path=provet', max: 2 });
  db.on('error', () => {});
});

afterAll(async () => {
  await db?.end();
  await testDb?.drop();
  await sim?.close();
});

describe('the daemon, a reconciliation and their HTTP answers', () => {
  let daemon: DaemonProcess;
  const daemonEnv = () => ({
    PROVET_BASE_URL: sim.baseUrl,
    PROVET_CLIENT_ID: sim.clientId,
    PROVET_CLIENT_SECRET: sim.clientSecret,
    DATABASE_URL: testDb.url,
    PROVET_DB_SCHEMA: 'provet',
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json',
    PROVET_RETRY_DEADLINE_SECONDS: '2',
  });
  const post = async (from: string, path: string, body: string, contentType = 'application/x-www-form-urlencoded') =>
    answer(
      from,
      await fetch(`${daemon.url}${path}`, { method: 'POST', body, headers: { 'content-type': contentType } }),
    );
  const get = async (path: string) => answer(`GET ${path}`, await fetch(`${daemon.url}${path}`));
  let reconcileOutput = '';

  beforeAll(async () => {
    daemon = await startDaemon({
      ...daemonEnv(),
      SYNC_SCHEDULE: '0 0 1 1 *', // the run at start only: later runs are the webhooks' and reconcile's
      RECONCILE_SCHEDULE: 'off',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_DEBOUNCE_SECONDS: '0.1',
    });
    await eventually(async () => (await fetch(`${daemon.url}/readyz`)).status === 200, 30_000, 'the first run');
  });

  afterAll(async () => {
    const code = await daemon?.stop();
    expect(code).toBe(0);
  });

  it('mirrors the seeded owners and keeps the rejected ones in sync_rejects', async () => {
    const stored = owners.filter((o) => !rejected.has(o.id));
    const rows = await db.query<{ id: number; firstname: string; email: string; street_address: string }>(
      'SELECT id, firstname, email, street_address FROM clients WHERE id = ANY($1)',
      [stored.map((o) => o.id)],
    );
    expect(rows.rows.map((r) => r.email).sort()).toEqual(stored.map((o) => o.email).sort());
    const phones = await db.query<{ phone_number: string }>(
      'SELECT phone_number FROM phone_numbers WHERE client_id = $1',
      [stored[0]!.id],
    );
    expect(phones.rows.map((r) => r.phone_number)).toContain(stored[0]!.phone);
    const rejects = await db.query<{ record_id: string; reason: string; payload: string }>(
      `SELECT record_id, reason, payload FROM sync_rejects`,
    );
    for (const [id, why] of rejected) {
      const row = rejects.rows.find((r) => r.record_id === String(id));
      expect(row, `client ${id} rejected for ${why}`).toBeDefined();
      expect(row!.reason).toContain(why);
      expect(row!.reason).not.toContain(String(REFUSED_INTEGER));
      // The refusal says where and what, without the value itself.
      if (why === 'database refused')
        expect(row!.reason).toMatch(/out of range for type integer \(column customer_type\)/);
      expect(row!.payload).toContain(owners.find((o) => o.id === id)!.email.split('@')[0]);
    }
    expect(rejects.rows.some((r) => r.record_id === String(rejectedPatient.id))).toBe(true);
  });

  it('answers webhooks, also bad ones made of personal data, without echoing them', async () => {
    const changed = owners[0]!;
    sim.updateClient(changed.id, { remarks: `${changed.remarks} again` });
    const path = `/webhooks/provet/${SECRET}`;
    expect((await post('webhook', path, `client_id=${changed.id}`)).status).toBe(200);
    expect((await post('webhook of a rejected record', path, `client_id=${owners[2]!.id}`)).status).toBe(200);
    expect((await post('bad webhook', path, `client_id=${encodeURIComponent(changed.email)}`)).status).toBe(400);
    expect(
      (await post('bad JSON webhook', path, JSON.stringify({ patient_id: changed.firstname }), 'application/json'))
        .status,
    ).toBe(400);
    expect((await post('wrong secret', `/webhooks/provet/${changed.email}`, `client_id=${changed.id}`)).status).toBe(
      404,
    );
    expect((await post('webhook of other content', path, `email=${encodeURIComponent(changed.email)}`)).status).toBe(
      200,
    );
    expect(
      (await post('oversized webhook', path, `client_id=1&note=${changed.criticalNotes.repeat(1000)}`)).status,
    ).toBe(413);
    await eventually(
      async () => {
        const r = await db.query<{ remarks: string }>(`SELECT raw->>'remarks' AS remarks FROM clients WHERE id = $1`, [
          changed.id,
        ]);
        return r.rows[0]?.remarks === `${changed.remarks} again`;
      },
      10_000,
      'the hinted change to land',
    );

    // A hard delete in Provet, and the hint for it.
    const deleted = owners[1]!;
    sim.deleteClient(deleted.id);
    expect((await post('webhook of a deleted record', path, `client_id=${deleted.id}`)).status).toBe(200);
    await eventually(
      async () =>
        (await db.query<{ deleted_at: string | null }>('SELECT deleted_at FROM clients WHERE id = $1', [deleted.id]))
          .rows[0]?.deleted_at != null,
      10_000,
      'deleted_at',
    );

    // A re-fetch that fails: its error is recorded in sync_runs.
    sim.setFaults('GET client/<id>/', { errorRate: 1 });
    try {
      expect((await post('webhook that fails', path, `client_id=${owners[0]!.id}`)).status).toBe(200);
      await eventually(
        async () =>
          (await db.query(`SELECT 1 FROM sync_runs WHERE kind = 'webhook' AND status = 'failed'`)).rowCount! > 0,
        20_000,
        'a failed webhook run',
      );
    } finally {
      sim.setFaults('GET client/<id>/', null);
    }

    for (const p of ['/healthz', '/readyz', '/metrics']) expect((await get(p)).status).toBeLessThan(500);
  });

  it('reconciles, also at debug level, and its findings name no one', async () => {
    // A hard delete nobody sent a hint for, and a stored owner's row changed behind the mirror's back.
    const gone = owners[8]!;
    sim.deleteClient(gone.id);
    await db.query(`UPDATE clients SET lastname = 'Drifted', modified = modified - interval '1 day' WHERE id = $1`, [
      owners[0]!.id,
    ]);
    const run = async () => startCli(['reconcile'], cliEnv(daemonEnv())).exited;
    let exit = await run();
    for (let i = 0; i < 20 && exit.code === 3; i++) {
      await new Promise((r) => setTimeout(r, 250));
      exit = await run();
    }
    expect(exit.code, exit.stderr).toBe(0);
    reconcileOutput = `${exit.stdout}\n${exit.stderr}`;
    const repaired = await db.query<{ lastname: string }>('SELECT lastname FROM clients WHERE id = $1', [
      owners[0]!.id,
    ]);
    expect(repaired.rows[0]?.lastname).toBe(owners[0]!.lastname);
    const marked = await db.query<{ deleted_at: string | null }>('SELECT deleted_at FROM clients WHERE id = $1', [
      gone.id,
    ]);
    expect(marked.rows[0]?.deleted_at).not.toBeNull();
    // It logged at debug as asked, so its lines at info and above are checked at their fullest.
    expect(logLines(exit.stderr).some((l) => l.level < INFO)).toBe(true);
  });

  it('logged none of it at info or above, answered none of it, and recorded none of it as a run error', async () => {
    const daemonOutput = daemon.output();
    const lines = [
      ...logLines(daemonOutput).map((l) => ({ ...l, from: 'daemon' })),
      ...logLines(reconcileOutput).map((l) => ({ ...l, from: 'reconcile' })),
    ];
    expect(lines.some((l) => /rejected/.test(l.text) && l.level >= INFO)).toBe(true);
    expect(lines.filter((l) => l.level < INFO).length).toBeGreaterThan(0);
    expect(leaks(lines.filter((l) => l.level >= INFO))).toEqual([]);

    expect(answers.length).toBeGreaterThanOrEqual(10);
    expect(leaks(answers.map((a) => ({ from: a.from, text: a.body })))).toEqual([]);

    const errors = await db.query<{ id: string; error: string }>(
      `SELECT id, error FROM sync_runs WHERE error IS NOT NULL`,
    );
    expect(errors.rows.length).toBeGreaterThan(0);
    expect(leaks(errors.rows.map((r) => ({ from: `sync_runs ${r.id}`, text: r.error })))).toEqual([]);

    // The values are in the mirror, so the checks above looked for something that exists.
    const mirrored = await db.query<{ text: string }>(`SELECT string_agg(raw::text, ' ') AS text FROM clients`);
    expect(mirrored.rows[0]!.text.toLowerCase()).toContain(owners[0]!.criticalNotes.toLowerCase());
  });
});

describe('a fleet worker', () => {
  let worker: Running;
  let url: string;
  let ended: Awaited<Running['exited']> | undefined;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provet-sync-personal-data-'));
    writeFileSync(join(dir, 'client.secret'), sim.clientSecret);
    writeFileSync(join(dir, 'webhook.secret'), FLEET_WEBHOOK_SECRET);
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      DATABASE_URL: testDb.url,
      PROVET_CONTROL_SCHEMA: 'personal_ctl',
    };
    const added = await startCli(
      [
        'installations',
        'add',
        'owners',
        '--base-url',
        sim.baseUrl,
        '--client-id',
        sim.clientId,
        '--client-secret-file',
        join(dir, 'client.secret'),
        '--webhook-secret-file',
        join(dir, 'webhook.secret'),
        '--schema',
        'fleet_owners',
        '--schedule',
        '0 0 1 1 *', // the first sync at once, then not before New Year
        '--reconcile-schedule',
        '*/2 * * * * *',
      ],
      env,
    ).exited;
    expect(added.code, added.stderr).toBe(0);
    worker = startCli(['worker'], {
      ...env,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      WORKER_TICK_SECONDS: '0.5',
      WEBHOOK_DEBOUNCE_SECONDS: '0.1',
    });
    await waitForOutput(worker, LISTENING, 30_000);
    url = `http://127.0.0.1:${LISTENING.exec(worker.output())![1]}`;
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await worker?.exited;
  });

  it('syncs, reconciles and answers a webhook without personal data in its logs or answers', async () => {
    const runs = (kind: string) =>
      db.query(`SELECT 1 FROM fleet_owners.sync_runs WHERE kind = $1 AND finished_at IS NOT NULL`, [kind]);
    await eventually(async () => (await runs('full')).rowCount! > 0, 30_000, 'the first fleet run');
    await eventually(async () => (await runs('reconcile')).rowCount! > 0, 30_000, 'a fleet reconciliation');
    const hook = `${url}/webhooks/provet/owners/${FLEET_WEBHOOK_SECRET}`;
    const post = async (from: string, body: string) =>
      answer(
        from,
        await fetch(hook, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      );
    const present = owners[9]!;
    expect((await post('fleet webhook', `client_id=${present.id}`)).status).toBe(200);
    expect((await post('bad fleet webhook', `client_id=${encodeURIComponent(present.email)}`)).status).toBe(400);
    await eventually(async () => (await runs('webhook')).rowCount! > 0, 15_000, 'the fleet webhook run');
    for (const p of ['/healthz', '/readyz', '/metrics'])
      expect((await answer(`fleet GET ${p}`, await fetch(`${url}${p}`))).status).toBeLessThan(500);

    worker.child.kill('SIGTERM');
    ended = await worker.exited;
    expect(ended.code).toBe(0);
    const lines = logLines(`${ended.stdout}\n${ended.stderr}`).map((l) => ({ ...l, from: 'worker' }));
    expect(lines.some((l) => /rejected/.test(l.text) && l.level >= INFO)).toBe(true);
    expect(leaks(lines.filter((l) => l.level >= INFO))).toEqual([]);
    expect(leaks(answers.map((a) => ({ from: a.from, text: a.body })))).toEqual([]);

    const errors = await db.query<{ error: string }>(
      `SELECT error FROM fleet_owners.sync_runs WHERE error IS NOT NULL
       UNION ALL SELECT last_error FROM personal_ctl.installation_schedule WHERE last_error IS NOT NULL`,
    );
    expect(leaks(errors.rows.map((r) => ({ from: 'fleet run error', text: r.error })))).toEqual([]);
    const rejects = await db.query<{ payload: string }>(`SELECT payload FROM fleet_owners.sync_rejects`);
    expect(rejects.rows.map((r) => r.payload).join(' ')).toContain(owners[2]!.email);
  });
});
