CREATE TABLE "billing_actions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"subscription_id" uuid NOT NULL,
	"invoice_id" uuid,
	"key" text NOT NULL,
	"action" text NOT NULL,
	"outcome" text DEFAULT 'DONE' NOT NULL,
	"due_at" timestamp (3) with time zone NOT NULL,
	"run_id" uuid,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_actions_subscription_key_unique" UNIQUE("subscription_id","key"),
	CONSTRAINT "billing_actions_outcome_check" CHECK ("billing_actions"."outcome" in ('DONE', 'SKIPPED'))
);
--> statement-breakpoint
ALTER TABLE "billing_actions" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "billing_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"trigger" text NOT NULL,
	"as_of" timestamp (3) with time zone NOT NULL,
	"tenant_id" uuid,
	"dry_run" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'RUNNING' NOT NULL,
	"counts" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"started_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp (3) with time zone,
	CONSTRAINT "billing_runs_status_check" CHECK ("billing_runs"."status" in ('RUNNING', 'SUCCEEDED', 'FAILED'))
);
--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "dunning_override" jsonb;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "cancel_at_period_end" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "cancel_requested_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "reminder_days" integer[] DEFAULT '{7,1}'::integer[] NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "overdue_notice_days" integer[] DEFAULT '{1,3}'::integer[] NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "suspend_after_days" integer DEFAULT 7 NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "termination_enabled" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "terminate_after_days" integer DEFAULT 30 NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "termination_warning_days" integer DEFAULT 23 NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_settings" ADD COLUMN "cancellation_retention_days" integer DEFAULT 30 NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_actions" ADD CONSTRAINT "billing_actions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_actions" ADD CONSTRAINT "billing_actions_subscription_id_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."subscriptions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_actions" ADD CONSTRAINT "billing_actions_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "billing_actions_tenant_created_idx" ON "billing_actions" USING btree ("tenant_id","created_at","id");--> statement-breakpoint
CREATE INDEX "billing_runs_started_idx" ON "billing_runs" USING btree ("started_at");--> statement-breakpoint
ALTER TABLE "billing_settings" ADD CONSTRAINT "billing_settings_dunning_check" CHECK ("billing_settings"."suspend_after_days" between 0 and 365 and "billing_settings"."termination_warning_days" between 0 and "billing_settings"."terminate_after_days" and "billing_settings"."terminate_after_days" between "billing_settings"."suspend_after_days" and 730 and "billing_settings"."cancellation_retention_days" between 0 and 365);--> statement-breakpoint
CREATE POLICY "billing_scan" ON "subscriptions" AS PERMISSIVE FOR SELECT TO public USING (nullif(current_setting('app.billing_scan', true), '') = 'on' and "subscriptions"."billing_mode" = 'MPANEL' and "subscriptions"."status" in ('ACTIVE', 'PAST_DUE', 'SUSPENDED'));--> statement-breakpoint
CREATE POLICY "billing_scan" ON "billing_settings" AS PERMISSIVE FOR SELECT TO public USING (nullif(current_setting('app.billing_scan', true), '') = 'on');--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "billing_actions" AS PERMISSIVE FOR ALL TO public USING ("billing_actions"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("billing_actions"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
-- Hand-written: billing_actions is tenant-owned, so its tenant policy applies to the owner role too (see 0001).
ALTER TABLE "billing_actions" FORCE ROW LEVEL SECURITY;
