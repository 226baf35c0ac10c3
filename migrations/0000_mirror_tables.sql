CREATE TABLE "breeds" (
	"id" bigint PRIMARY KEY NOT NULL,
	"name" text,
	"species_id" bigint,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "clients" (
	"id" bigint PRIMARY KEY NOT NULL,
	"title" text,
	"firstname" text,
	"lastname" text,
	"organization_name" text,
	"email" text,
	"customer_type" integer,
	"street_address" text,
	"zip_code" text,
	"city" text,
	"country" text,
	"home_department_id" bigint,
	"no_sms" boolean,
	"no_email" boolean,
	"archived" boolean DEFAULT false NOT NULL,
	"archived_seen_at" timestamp(6) with time zone,
	"created" timestamp(6) with time zone,
	"modified" timestamp(6) with time zone NOT NULL,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "custom_field_values" (
	"object_type" text NOT NULL,
	"id" bigint NOT NULL,
	"field_id" bigint NOT NULL,
	"object_id" bigint NOT NULL,
	"label" text,
	"value" jsonb,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "custom_field_values_object_type_id_pk" PRIMARY KEY("object_type","id"),
	CONSTRAINT "custom_field_values_object_type_check" CHECK ("custom_field_values"."object_type" in ('client', 'patient'))
);
--> statement-breakpoint
CREATE TABLE "custom_fields" (
	"id" bigint PRIMARY KEY NOT NULL,
	"label" text,
	"type" text,
	"model" text,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "patient_rereads" (
	"client_id" bigint NOT NULL,
	"queued_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"run_id" bigint,
	CONSTRAINT "patient_rereads_client_id_pk" PRIMARY KEY("client_id")
);
--> statement-breakpoint
CREATE TABLE "patients" (
	"id" bigint PRIMARY KEY NOT NULL,
	"client_id" bigint,
	"name" text,
	"species" text,
	"species_code" bigint,
	"breed" text,
	"breed_code" bigint,
	"gender" text,
	"weight" numeric,
	"date_of_birth" date,
	"deceased" date,
	"microchip" text,
	"color" text,
	"home_department_id" bigint,
	"archived" boolean DEFAULT false NOT NULL,
	"archived_seen_at" timestamp(6) with time zone,
	"created" timestamp(6) with time zone,
	"modified" timestamp(6) with time zone NOT NULL,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "phone_numbers" (
	"id" bigint PRIMARY KEY NOT NULL,
	"client_id" bigint NOT NULL,
	"phone_number" text,
	"type_code" integer,
	"description" text,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "species" (
	"id" bigint PRIMARY KEY NOT NULL,
	"name" text,
	"raw" jsonb NOT NULL,
	"synced_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sync_rejects" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"run_id" bigint,
	"stream" text NOT NULL,
	"record_id" text,
	"reason" text NOT NULL,
	"payload" text NOT NULL,
	"rejected_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sync_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"started_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp(6) with time zone,
	"provider_started_at" timestamp(6) with time zone,
	"records_fetched" integer DEFAULT 0 NOT NULL,
	"records_written" integer DEFAULT 0 NOT NULL,
	"records_rejected" integer DEFAULT 0 NOT NULL,
	"pages" integer DEFAULT 0 NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"throttled" integer DEFAULT 0 NOT NULL,
	"streams" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "sync_state" (
	"stream" text PRIMARY KEY NOT NULL,
	"watermark" timestamp(6) with time zone,
	"last_run_id" bigint,
	"updated_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "clients_modified_idx" ON "clients" USING btree ("modified");--> statement-breakpoint
CREATE INDEX "custom_field_values_object_idx" ON "custom_field_values" USING btree ("object_type","object_id");--> statement-breakpoint
CREATE INDEX "patients_client_id_idx" ON "patients" USING btree ("client_id");--> statement-breakpoint
CREATE INDEX "patients_modified_idx" ON "patients" USING btree ("modified");--> statement-breakpoint
CREATE INDEX "phone_numbers_client_id_idx" ON "phone_numbers" USING btree ("client_id");--> statement-breakpoint
CREATE INDEX "sync_rejects_run_idx" ON "sync_rejects" USING btree ("run_id");