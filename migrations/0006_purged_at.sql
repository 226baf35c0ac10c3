ALTER TABLE "clients" ADD COLUMN "purged_at" timestamp(6) with time zone;--> statement-breakpoint
ALTER TABLE "patients" ADD COLUMN "purged_at" timestamp(6) with time zone;--> statement-breakpoint
COMMENT ON COLUMN clients.purged_at IS 'When the purge erased this deleted client''s personal data (DELETED_RETENTION_DAYS); the row stays as a tombstone.';--> statement-breakpoint
COMMENT ON COLUMN patients.purged_at IS 'When the purge erased this deleted patient''s personal data (DELETED_RETENTION_DAYS); the row stays as a tombstone.';
