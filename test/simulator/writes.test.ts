import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { all, connect, idOf, ids, list, type Caller, type Row } from './helpers.js';

let sim: Simulator;
let call: Caller;

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 60, seed: 5 }));
});
afterAll(() => sim.close());

const DOG = 15461002;
const LABRADOR = 13689002;
const CAT_BREED = 13690001;

async function getRecord(path: string): Promise<Row> {
  const answer = await call<Row>('GET', path);
  expect(answer.status).toBe(200);
  return answer.body;
}

/** A client that exists and is not archived, with at least `patients` patients. */
function livingClient(patients = 0): Row {
  const state = sim.exportState();
  const found = state.clients.find(
    (c) =>
      c.archived === false &&
      (c.patients as unknown[]).length >= patients &&
      (c.phone_numbers as unknown[]).length >= 1,
  );
  if (!found) throw new Error('seed has no such client');
  return found as Row;
}

describe('client writes', () => {
  it('POST client/ creates a client (201, Location) that lists and reads back', async () => {
    const created = await call<Row>('POST', 'client/', {
      firstname: 'John',
      lastname: 'Smith',
      email: 'john.smith@example.com',
      country: 'GB',
      customer_type: 0,
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${sim.baseUrl}client/${created.body.id}/`);
    expect(created.body).toMatchObject({
      firstname: 'John',
      lastname: 'Smith',
      country: 'GB',
      archived: false,
      patients: [],
      phone_numbers: [],
    });
    expect(created.body.created).toBe(created.body.modified);
    expect(await getRecord(`client/${created.body.id}/`)).toEqual(created.body);
    const page = await list(call, `client/?id__is=${created.body.id}`);
    expect(page.count).toBe(1);
  });

  it('PATCH client/<id>/ changes only the given fields and moves modified', async () => {
    const before = livingClient();
    const patched = await call<Row>('PATCH', `client/${before.id}/`, { email: 'new.email@example.com', no_sms: true });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      email: 'new.email@example.com',
      no_sms: true,
      firstname: before.firstname,
      created: before.created,
    });
    expect(patched.body.modified).not.toBe(before.modified);
    expect(Date.parse(String(patched.body.modified))).toBeGreaterThan(Date.parse(String(before.modified)));
  });

  it('answers 400 with field errors and changes nothing on invalid input; 404 for unknown ids', async () => {
    const before = livingClient();
    const bad = await call<Record<string, string[]>>('PATCH', `client/${before.id}/`, {
      email: 'not-an-email',
      customer_type: 9,
      no_sms: 'perhaps',
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body).sort()).toEqual(['customer_type', 'email', 'no_sms']);
    expect(await getRecord(`client/${before.id}/`)).toEqual(before);
    expect((await call('PATCH', 'client/999999/', { remarks: 'x' })).status).toBe(404);
    expect((await call('POST', 'client/', { email: 'nobody@example.com' })).status).toBe(400);
    expect((await call('DELETE', `client/${before.id}/`)).status).toBe(405);
  });

  it('every write moves modified to a strictly later microsecond', async () => {
    const client = livingClient(1);
    const stamps: string[] = [String(client.modified)];
    for (let i = 0; i < 5; i++) {
      const answer = await call<Row>('PATCH', `client/${client.id}/`, { remarks: `visit ${i}` });
      stamps.push(String(answer.body.modified));
    }
    expect(new Set(stamps).size).toBe(stamps.length);
    // The same PATCH twice still moves it: Django's auto_now stamps every save.
    const again = await call<Row>('PATCH', `client/${client.id}/`, { remarks: 'visit 4' });
    expect(again.body.modified).not.toBe(stamps.at(-1));
  });

  it('timestamps carry microseconds and the installation offset', async () => {
    const created = await call<Row>('POST', 'client/', { lastname: 'Offset' });
    expect(created.body.modified).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+02:00$/);
  });
});

describe('patient writes', () => {
  it('POST patient/ takes the client as a URL and species/breed as codes, and renders names back', async () => {
    const owner = livingClient();
    const created = await call<Row>('POST', 'patient/', {
      client: `${sim.baseUrl}client/${owner.id}/`,
      name: 'Max',
      species: DOG,
      breed: LABRADOR,
      gender: 'Male',
      date_of_birth: '2020-06-15',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      client: `${sim.baseUrl}client/${owner.id}/`,
      species: 'Dog (Canine - Domestic)',
      species_code: DOG,
      breed: 'Labrador Retriever',
      breed_code: LABRADOR,
      deceased: null,
      archived: false,
    });
    const client = await getRecord(`client/${owner.id}/`);
    expect(client.patients).toContain(`${sim.baseUrl}patient/${created.body.id}/`);
  });

  it('PATCH patient/<id>/ records deceased, weight and microchip, and can undo deceased', async () => {
    const patient = (sim.exportState().patients as Row[]).find((p) => p.deceased === null && p.archived === false)!;
    const dead = await call<Row>('PATCH', `patient/${patient.id}/`, {
      deceased: '2024-03-20',
      microchip: '900123456789012',
      weight: '32.5',
    });
    expect(dead.status).toBe(200);
    expect(dead.body).toMatchObject({ deceased: '2024-03-20', microchip: '900123456789012', weight: '32.50' });
    expect(dead.body.modified).not.toBe(patient.modified);
    const alive = await call<Row>('PATCH', `patient/${patient.id}/`, { deceased: null });
    expect(alive.body.deceased).toBeNull();
    expect(alive.body.modified).not.toBe(dead.body.modified);
  });

  it('rejects unknown clients, species and breeds of another species', async () => {
    const owner = livingClient();
    const bad = await call<Record<string, unknown>>('POST', 'patient/', {
      client: 999999,
      name: 'X',
      species: 1,
      breed: 1,
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body).sort()).toEqual(['breed', 'client', 'species']);
    const wrongBreed = await call('POST', 'patient/', { client: owner.id, name: 'X', species: DOG, breed: CAT_BREED });
    expect(wrongBreed.status).toBe(400);
  });
});

describe('patient/bulk/', () => {
  const good = (clientId: number, name: string) => ({ client: clientId, name, species: DOG });

  it('stamps created patients with the write clock, later than anything seeded', async () => {
    const owner = livingClient();
    const latestSeeded = Math.max(...sim.exportState().patients.map((p) => Date.parse(String(p.modified))));
    const answer = await call<Row[]>('POST', 'patient/bulk/', [good(owner.id, 'Stamp A'), good(owner.id, 'Stamp B')]);
    for (const p of answer.body) {
      expect(p.created).toBe(p.modified);
      expect(Date.parse(String(p.modified))).toBeGreaterThanOrEqual(latestSeeded);
    }
    expect(answer.body[0]!.modified).not.toBe(answer.body[1]!.modified);
  });

  it('201: every patient created', async () => {
    const owner = livingClient();
    const answer = await call<Row[]>('POST', 'patient/bulk/', [good(owner.id, 'Bulk A'), good(owner.id, 'Bulk B')]);
    expect(answer.status).toBe(201);
    expect(answer.body.map((p) => p.name)).toEqual(['Bulk A', 'Bulk B']);
    expect((await list(call, `patient/?client__is=${owner.id}&name__icontains=bulk`)).count).toBe(2);
  });

  it('400 without force_push when any fails, and nothing is created', async () => {
    const owner = livingClient();
    const before = (await list(call, 'patient/')).count;
    const answer = await call<unknown[]>('POST', 'patient/bulk/', [
      good(owner.id, 'Kept?'),
      { client: owner.id, species: DOG },
    ]);
    expect(answer.status).toBe(400);
    expect(answer.body).toHaveLength(2);
    expect(answer.body[0]).toEqual({});
    expect(answer.body[1]).toHaveProperty('name');
    expect((await list(call, 'patient/')).count).toBe(before);
  });

  it('207 with force_push=true: the valid ones are created, the response says which failed', async () => {
    const owner = livingClient();
    const before = (await list(call, 'patient/')).count;
    const answer = await call<{ status: number; data?: Row; errors?: unknown }[]>(
      'POST',
      'patient/bulk/?force_push=true',
      [good(owner.id, 'Partial A'), { client: owner.id, name: 'No species' }, good(owner.id, 'Partial B')],
    );
    expect(answer.status).toBe(207);
    expect(answer.body.map((r) => r.status)).toEqual([201, 400, 201]);
    expect(answer.body[1]!.errors).toHaveProperty('species');
    expect((await list(call, 'patient/')).count).toBe(before + 2);
  });

  it('400 when all fail, even with force_push; 400 for a body that is not a list', async () => {
    const all400 = await call('POST', 'patient/bulk/?force_push=true', [{ name: 'a' }, { name: 'b' }]);
    expect(all400.status).toBe(400);
    expect((await call('POST', 'patient/bulk/', { name: 'a' })).status).toBe(400);
    expect((await call('POST', 'patient/bulk/', [])).status).toBe(400);
  });
});

describe('archiving', () => {
  it('archiving a client archives its patients, whose modified stays put by default; unarchiving undoes it', async () => {
    const client = livingClient(2);
    const before = await all(call, `patient/?client__is=${client.id}`);
    expect(before.length).toBeGreaterThanOrEqual(2);
    const alreadyArchived = ids(before.filter((p) => p.archived === true));
    const archived = await call<Row>('PATCH', `client/${client.id}/`, { archived: true });
    expect(archived.body.archived).toBe(true);
    const after = await all(call, `patient/?client__is=${client.id}`);
    expect(after.every((p) => p.archived === true)).toBe(true);
    // The hard part for a sync client: modified__gte polling does not see this.
    expect(after.map((p) => p.modified)).toEqual(before.map((p) => p.modified));
    const since = await all(
      call,
      `patient/?client__is=${client.id}&modified__gte=${encodeURIComponent(String(archived.body.modified))}`,
    );
    expect(since).toHaveLength(0);

    await call('PATCH', `client/${client.id}/`, { archived: false });
    const restored = await all(call, `patient/?client__is=${client.id}`);
    expect(ids(restored.filter((p) => p.archived === true))).toEqual(alreadyArchived);
  });

  it('moves the cascaded patients’ modified when the behaviour switch says so', async () => {
    const other = await connect({ clients: 40, seed: 5, behaviour: { archiveCascadeMovesPatientModified: true } });
    try {
      const client = (other.sim.exportState().clients as Row[]).find(
        (c) => c.archived === false && (c.patients as unknown[]).length >= 1,
      )!;
      const updated = other.sim.updateClient(client.id, { archived: true });
      const patients = await all(
        other.call,
        `patient/?client__is=${client.id}&modified__gte=${encodeURIComponent(String(updated.modified))}`,
      );
      expect(patients.length).toBe((client.patients as unknown[]).length);
      expect(patients.every((p) => p.archived === true)).toBe(true);
    } finally {
      await other.sim.close();
    }
  });
});

describe('phone numbers and custom field values', () => {
  it('POST phonenumber/ adds to the client’s nested copy without moving its modified (by default)', async () => {
    const client = livingClient();
    const created = await call<Row>('POST', 'phonenumber/', {
      client: `${sim.baseUrl}client/${client.id}/`,
      phone_number: '+441234567890',
      type_code: 1,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      client: `${sim.baseUrl}client/${client.id}/`,
      phone_number: '+441234567890',
      type_code: 1,
    });
    const after = await getRecord(`client/${client.id}/`);
    expect(after.phone_numbers).toContainEqual({
      id: created.body.id,
      number: '+441234567890',
      type: 'mobile',
      description: '',
      is_secondary_owners_phone_number: false,
    });
    expect(after.modified).toBe(client.modified);
    const mine = await all(call, `phonenumber/?client__is=${client.id}`);
    expect(ids(mine)).toContain(created.body.id);

    const patched = await call<Row>('PATCH', `phonenumber/${created.body.id}/`, { type_code: 0 });
    expect(patched.body.type_code).toBe(0);
    expect((await call('DELETE', `phonenumber/${created.body.id}/`)).status).toBe(204);
    expect(ids(await all(call, `phonenumber/?client__is=${client.id}`))).not.toContain(created.body.id);
  });

  it('moves the client’s modified on phone changes when switched on', async () => {
    const other = await connect({ clients: 10, behaviour: { phoneChangeMovesClientModified: true } });
    try {
      const client = (other.sim.exportState().clients as Row[]).find((c) => c.archived === false)!;
      other.sim.addPhoneNumber(client.id, { phone_number: '040 123' });
      expect((await other.call<Row>('GET', `client/${client.id}/`)).body.modified).not.toBe(client.modified);
    } finally {
      await other.sim.close();
    }
  });

  it('nested custom_field_values POST creates, then updates the same value; fields_rel shows it', async () => {
    const client = livingClient();
    const first = await call<Row>('POST', `client/${client.id}/custom_field_values/`, {
      field_id: 41,
      value: 'Referred by Dr. Brown',
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ field_id: 41, label: 'Referral source', value: 'Referred by Dr. Brown' });
    const second = await call<Row>('POST', `client/${client.id}/custom_field_values/`, {
      field_id: 41,
      value: 'Web search',
    });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const record = await getRecord(`client/${client.id}/`);
    expect(record.fields_rel).toContainEqual({
      id: first.body.id,
      field_id: 41,
      label: 'Referral source',
      value: 'Web search',
    });
    // By default the parent's modified does not move for a nested value write.
    expect(record.modified).toBe(client.modified);
    const values = await list(call, `client/${client.id}/custom_field_values/`);
    expect(values.results).toEqual(record.fields_rel);
  });

  it('select values are lists of options; a PATCH with fields_rel replaces the set and moves modified', async () => {
    const client = livingClient();
    const patched = await call<Row>('PATCH', `client/${client.id}/`, {
      fields_rel: [
        { field_id: 45, value: [{ id: 102, name: 'SMS' }] },
        { field_id: 44, value: true },
      ],
    });
    expect(patched.status).toBe(200);
    expect((patched.body.fields_rel as Row[]).map((v) => [v.field_id, v.value])).toEqual([
      [45, [{ id: 102, name: 'SMS' }]],
      [44, 'True'],
    ]);
    expect(patched.body.modified).not.toBe(client.modified);
    const bad = await call('PATCH', `client/${client.id}/`, { fields_rel: [{ field_id: 45, value: [{ id: 999 }] }] });
    expect(bad.status).toBe(400);
    const wrongModel = await call('POST', `client/${client.id}/custom_field_values/`, { field_id: 51, value: 'Calm' });
    expect(wrongModel.status).toBe(400);
  });

  it('moves the record’s modified on a nested value POST when switched on', async () => {
    const other = await connect({ clients: 10, behaviour: { customValueChangeMovesModified: true } });
    try {
      const patient = other.sim.exportState().patients[0] as Row;
      const answer = await other.call('POST', `patient/${patient.id}/custom_field_values/`, {
        field_id: 54,
        value: 'True',
      });
      expect(answer.status).toBeLessThan(300);
      expect((await other.call<Row>('GET', `patient/${patient.id}/`)).body.modified).not.toBe(patient.modified);
    } finally {
      await other.sim.close();
    }
  });

  it('in-process value changes behave like their HTTP equivalents', async () => {
    const patient = (sim.exportState().patients as Row[]).find((p) => p.archived === false)!;
    sim.setCustomFieldValue('patient', patient.id, 51, 'Calm');
    const withValue = await getRecord(`patient/${patient.id}/`);
    expect((withValue.fields_rel as Row[]).find((v) => v.field_id === 51)?.value).toBe('Calm');
    expect(withValue.modified).toBe(patient.modified);
    sim.removeCustomFieldValue('patient', patient.id, 51);
    const without = await getRecord(`patient/${patient.id}/`);
    expect((without.fields_rel as Row[]).some((v) => v.field_id === 51)).toBe(false);
    expect(without.modified).not.toBe(patient.modified);
  });
});

describe('hard delete', () => {
  it('deleteClient removes the client, its patients and phone numbers; nothing lists it', async () => {
    const client = livingClient(1);
    const patientIds = (client.patients as string[]).map(idOf);
    const before = (await list(call, 'client/')).count;
    sim.deleteClient(client.id);
    expect((await call('GET', `client/${client.id}/`)).status).toBe(404);
    expect((await call('GET', `patient/${patientIds[0]}/`)).status).toBe(404);
    expect((await list(call, 'client/')).count).toBe(before - 1);
    expect((await list(call, `patient/?client__is=${client.id}`)).count).toBe(0);
    expect((await list(call, `phonenumber/?client__is=${client.id}`)).count).toBe(0);
    expect(() => sim.deleteClient(client.id)).toThrow(/not found/);
  });
});
