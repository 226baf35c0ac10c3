CREATE TABLE "sync_lease" (
	"singleton" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"run_id" bigint NOT NULL,
	"taken_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sync_lease_singleton_check" CHECK ("sync_lease"."singleton")
);
