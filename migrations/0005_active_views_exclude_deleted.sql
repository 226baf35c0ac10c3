-- Hard deletes in Provet (seen by reconciliation or a webhook re-fetch) set deleted_at; the
-- analysts' views leave those rows out, the tables keep them. Hand-written: drizzle-kit cannot
-- express views with these joins, comments or triggers. Runs with search_path set to the mirror's schema.
CREATE OR REPLACE VIEW active_clients AS
  SELECT id, title, firstname, lastname, organization_name, email, customer_type, street_address,
         zip_code, city, country, home_department_id, no_sms, no_email, created, modified, synced_at
  FROM clients
  WHERE NOT archived AND deleted_at IS NULL;
--> statement-breakpoint
CREATE OR REPLACE VIEW active_patients AS
  SELECT p.id, p.client_id, p.name, p.species, p.species_code, s.name AS species_name,
         p.breed, p.breed_code, b.name AS breed_name, p.gender, p.weight, p.date_of_birth,
         p.deceased, p.microchip, p.color, p.home_department_id, p.created, p.modified, p.synced_at
  FROM patients p
  LEFT JOIN species s ON s.id = p.species_code
  LEFT JOIN breeds b ON b.id = p.breed_code
  WHERE NOT p.archived AND p.deleted_at IS NULL;
--> statement-breakpoint
COMMENT ON VIEW active_clients IS 'Clients that are neither archived nor deleted in Provet.';
--> statement-breakpoint
COMMENT ON VIEW active_patients IS 'Patients that are neither archived nor deleted in Provet, with species and breed names from the codelists.';
--> statement-breakpoint
COMMENT ON COLUMN clients.deleted_at IS 'When the mirror found this client gone from Provet (a hard delete); null while Provet has it. The row is kept.';
--> statement-breakpoint
COMMENT ON COLUMN patients.deleted_at IS 'When the mirror found this patient gone from Provet (a hard delete); null while Provet has it. The row is kept.';
--> statement-breakpoint
-- A row rewritten from what Provet sent (the upsert always stamps synced_at) proves the record
-- exists again, so it is no longer deleted, whichever path wrote it.
CREATE OR REPLACE FUNCTION provet_sync_undelete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.synced_at IS DISTINCT FROM OLD.synced_at THEN
    NEW.deleted_at := NULL;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER clients_undelete BEFORE UPDATE ON clients FOR EACH ROW
  WHEN (OLD.deleted_at IS NOT NULL) EXECUTE FUNCTION provet_sync_undelete();
--> statement-breakpoint
CREATE TRIGGER patients_undelete BEFORE UPDATE ON patients FOR EACH ROW
  WHEN (OLD.deleted_at IS NOT NULL) EXECUTE FUNCTION provet_sync_undelete();
