ALTER TYPE "public"."job_type" ADD VALUE 'SUSPEND_MAIL';--> statement-breakpoint
ALTER TYPE "public"."job_type" ADD VALUE 'UNSUSPEND_MAIL';--> statement-breakpoint
ALTER TYPE "public"."job_type" ADD VALUE 'TERMINATE_MAIL';--> statement-breakpoint
CREATE TABLE "mail_aliases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"mail_domain_id" uuid NOT NULL,
	"local_part" text NOT NULL,
	"targets" text[] NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mail_aliases_domain_local_part_unique" UNIQUE("mail_domain_id","local_part"),
	CONSTRAINT "mail_aliases_targets_check" CHECK (cardinality("mail_aliases"."targets") between 1 and 50)
);
--> statement-breakpoint
ALTER TABLE "mail_aliases" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "mail_domains" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"domain_id" uuid NOT NULL,
	"subscription_id" uuid,
	"server_id" uuid NOT NULL,
	"dkim_selector" text NOT NULL,
	"dkim_private_key_encrypted" text NOT NULL,
	"dkim_public_key" text NOT NULL,
	"status" "mailbox_status" DEFAULT 'PENDING' NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mail_domains_tenant_domain_unique" UNIQUE("tenant_id","domain_id")
);
--> statement-breakpoint
ALTER TABLE "mail_domains" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "mail_aliases" ADD CONSTRAINT "mail_aliases_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mail_aliases" ADD CONSTRAINT "mail_aliases_mail_domain_id_mail_domains_id_fk" FOREIGN KEY ("mail_domain_id") REFERENCES "public"."mail_domains"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_domain_id_domains_id_fk" FOREIGN KEY ("domain_id") REFERENCES "public"."domains"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_subscription_id_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscriptions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mail_domains" ADD CONSTRAINT "mail_domains_server_id_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."servers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mail_domains_server_idx" ON "mail_domains" USING btree ("server_id");--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "mail_aliases" AS PERMISSIVE FOR ALL TO public USING ("mail_aliases"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("mail_aliases"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "mail_domains" AS PERMISSIVE FOR ALL TO public USING ("mail_domains"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("mail_domains"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);