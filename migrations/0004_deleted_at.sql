ALTER TABLE "clients" ADD COLUMN "deleted_at" timestamp(6) with time zone;--> statement-breakpoint
ALTER TABLE "patients" ADD COLUMN "deleted_at" timestamp(6) with time zone;