CREATE TABLE "installation_schedule" (
	"name" text PRIMARY KEY NOT NULL,
	"next_run_at" timestamp(6) with time zone NOT NULL,
	"next_reconcile_at" timestamp(6) with time zone,
	"failures" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"last_finished_at" timestamp(6) with time zone
);
--> statement-breakpoint
CREATE TABLE "worker_heartbeats" (
	"process_id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"slot_ids" text[] NOT NULL,
	"started_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
