-- Views and descriptions for analysts. Hand-written (drizzle-kit cannot express COMMENT ON);
-- like every migration it runs with search_path set to the mirror's schema.
CREATE VIEW active_clients AS
  SELECT id, title, firstname, lastname, organization_name, email, customer_type, street_address,
         zip_code, city, country, home_department_id, no_sms, no_email, created, modified, synced_at
  FROM clients
  WHERE NOT archived;
--> statement-breakpoint
CREATE VIEW active_patients AS
  SELECT p.id, p.client_id, p.name, p.species, p.species_code, s.name AS species_name,
         p.breed, p.breed_code, b.name AS breed_name, p.gender, p.weight, p.date_of_birth,
         p.deceased, p.microchip, p.color, p.home_department_id, p.created, p.modified, p.synced_at
  FROM patients p
  LEFT JOIN species s ON s.id = p.species_code
  LEFT JOIN breeds b ON b.id = p.breed_code
  WHERE NOT p.archived;
--> statement-breakpoint
COMMENT ON TABLE clients IS 'Provet clients (animal owners), one row per Provet client id. Archived clients stay, flagged.';
--> statement-breakpoint
COMMENT ON COLUMN clients.id IS 'Provet client id.';
--> statement-breakpoint
COMMENT ON COLUMN clients.customer_type IS '0 private person, 1 company, 2 EU company, 3 charitable organization, 4 UK charity.';
--> statement-breakpoint
COMMENT ON COLUMN clients.country IS 'ISO 3166-1 alpha-2 country code.';
--> statement-breakpoint
COMMENT ON COLUMN clients.home_department_id IS 'Provet department id, taken from the home_department URL.';
--> statement-breakpoint
COMMENT ON COLUMN clients.no_sms IS 'True: Provet sends this client no automated SMS.';
--> statement-breakpoint
COMMENT ON COLUMN clients.no_email IS 'True: Provet sends this client no automated email.';
--> statement-breakpoint
COMMENT ON COLUMN clients.archived IS 'Archived in Provet (its soft delete). Follows Provet both ways.';
--> statement-breakpoint
COMMENT ON COLUMN clients.archived_seen_at IS 'When the mirror first saw this client archived; null while it is not archived.';
--> statement-breakpoint
COMMENT ON COLUMN clients.created IS 'Created in Provet (Provet time, microseconds kept).';
--> statement-breakpoint
COMMENT ON COLUMN clients.modified IS 'Last modified in Provet (Provet time, microseconds kept).';
--> statement-breakpoint
COMMENT ON COLUMN clients.raw IS 'The whole record as the Provet API sent it.';
--> statement-breakpoint
COMMENT ON COLUMN clients.synced_at IS 'When this row was last written by provet-sync.';
--> statement-breakpoint
COMMENT ON TABLE patients IS 'Provet patients (animals), one row per Provet patient id. Archived patients stay, flagged.';
--> statement-breakpoint
COMMENT ON COLUMN patients.client_id IS 'Owner: clients.id.';
--> statement-breakpoint
COMMENT ON COLUMN patients.species IS 'Species display name as Provet sends it, e.g. Dog (Canine - Domestic).';
--> statement-breakpoint
COMMENT ON COLUMN patients.species_code IS 'Numeric species code: species.id.';
--> statement-breakpoint
COMMENT ON COLUMN patients.breed IS 'Breed display name as Provet sends it (may be the text None).';
--> statement-breakpoint
COMMENT ON COLUMN patients.breed_code IS 'Numeric breed code: breeds.id.';
--> statement-breakpoint
COMMENT ON COLUMN patients.gender IS 'Gender display text as Provet sends it.';
--> statement-breakpoint
COMMENT ON COLUMN patients.weight IS 'Current weight as recorded in Provet.';
--> statement-breakpoint
COMMENT ON COLUMN patients.deceased IS 'Date of death; null while the patient is alive.';
--> statement-breakpoint
COMMENT ON COLUMN patients.archived IS 'Archived in Provet (archiving a client archives its patients). Follows Provet both ways.';
--> statement-breakpoint
COMMENT ON COLUMN patients.archived_seen_at IS 'When the mirror first saw this patient archived; null while it is not archived.';
--> statement-breakpoint
COMMENT ON COLUMN patients.raw IS 'The whole record as the Provet API sent it.';
--> statement-breakpoint
COMMENT ON TABLE phone_numbers IS 'Client phone numbers (Provet keeps them as separate records).';
--> statement-breakpoint
COMMENT ON COLUMN phone_numbers.type_code IS '0 landline, 1 mobile.';
--> statement-breakpoint
COMMENT ON TABLE custom_fields IS 'Custom field definitions configured in this Provet installation.';
--> statement-breakpoint
COMMENT ON COLUMN custom_fields.model IS 'The kind of record the field applies to (client or patient).';
--> statement-breakpoint
COMMENT ON TABLE custom_field_values IS 'Custom field values of clients and patients; a value removed in Provet is removed here.';
--> statement-breakpoint
COMMENT ON COLUMN custom_field_values.object_type IS 'client or patient.';
--> statement-breakpoint
COMMENT ON COLUMN custom_field_values.object_id IS 'clients.id or patients.id, per object_type.';
--> statement-breakpoint
COMMENT ON COLUMN custom_field_values.value IS 'The value as JSON: mostly a string; select fields hold a list of {id, name}.';
--> statement-breakpoint
COMMENT ON TABLE species IS 'Species codelist of this installation.';
--> statement-breakpoint
COMMENT ON TABLE breeds IS 'Breed codelist of this installation.';
--> statement-breakpoint
COMMENT ON TABLE sync_state IS 'provet-sync bookkeeping: per stream, the Provet time up to which every change has landed.';
--> statement-breakpoint
COMMENT ON TABLE sync_runs IS 'provet-sync bookkeeping: one row per sync run, with its outcome and counts.';
--> statement-breakpoint
COMMENT ON COLUMN sync_runs.throttled IS 'How many 429 (rate limited) answers the run met.';
--> statement-breakpoint
COMMENT ON TABLE sync_rejects IS 'Records Provet sent that could not be stored, with the reason and the payload as received.';
--> statement-breakpoint
COMMENT ON TABLE patient_rereads IS 'provet-sync bookkeeping: clients whose archived state changed and whose patients must be read again.';
--> statement-breakpoint
COMMENT ON VIEW active_clients IS 'Clients that are not archived.';
--> statement-breakpoint
COMMENT ON VIEW active_patients IS 'Patients that are not archived, with species and breed names from the codelists.';
