CREATE TABLE "acme_accounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"directory_url" text NOT NULL,
	"account_url" text NOT NULL,
	"account_key_encrypted" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "acme_accounts_directory_url_unique" UNIQUE("directory_url")
);
--> statement-breakpoint
DROP INDEX "ssl_certificates_domain_idx";--> statement-breakpoint
ALTER TABLE "ssl_certificates" ADD COLUMN "fingerprint_sha256" text;--> statement-breakpoint
ALTER TABLE "ssl_certificates" ADD COLUMN "renew_after" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "ssl_certificates" ADD COLUMN "challenge" text DEFAULT 'http-01' NOT NULL;--> statement-breakpoint
ALTER TABLE "ssl_certificates" ADD COLUMN "failed_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "ssl_certificates_renew_after_idx" ON "ssl_certificates" USING btree ("renew_after");--> statement-breakpoint
ALTER TABLE "ssl_certificates" ADD CONSTRAINT "ssl_certificates_domain_unique" UNIQUE("domain_id");