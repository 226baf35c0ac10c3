CREATE TABLE "webhook_hints" (
	"installation" text NOT NULL,
	"kind" text NOT NULL,
	"record_id" bigint NOT NULL,
	"received_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_hints_installation_kind_record_id_pk" PRIMARY KEY("installation","kind","record_id")
);
