ALTER TABLE "subscriptions" ADD COLUMN "stripe_status" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "stripe_current_period_end" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "disputed_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "stripe_attempt_count" integer;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "stripe_next_payment_attempt" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "stripe_payment_intent_id" text;--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "amount_refunded" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "subscriptions_stripe_idx" ON "subscriptions" USING btree ("stripe_subscription_id") WHERE "subscriptions"."stripe_subscription_id" is not null;--> statement-breakpoint
CREATE INDEX "invoices_stripe_payment_intent_idx" ON "invoices" USING btree ("stripe_payment_intent_id") WHERE "invoices"."stripe_payment_intent_id" is not null;--> statement-breakpoint
CREATE INDEX "payments_source_reference_idx" ON "payments" USING btree ("source","reference");--> statement-breakpoint
CREATE POLICY "stripe_dunning_scan" ON "subscriptions" AS PERMISSIVE FOR SELECT TO public USING (nullif(current_setting('app.stripe_dunning_scan', true), '') = 'on' and "subscriptions"."billing_mode" = 'STRIPE' and "subscriptions"."status" in ('ACTIVE', 'PAST_DUE'));--> statement-breakpoint
CREATE POLICY "stripe_reference_lookup" ON "subscriptions" AS PERMISSIVE FOR SELECT TO public USING ("subscriptions"."stripe_subscription_id" = nullif(current_setting('app.stripe_reference', true), ''));--> statement-breakpoint
CREATE POLICY "stripe_reference_lookup" ON "invoices" AS PERMISSIVE FOR SELECT TO public USING ("invoices"."stripe_invoice_id" = nullif(current_setting('app.stripe_reference', true), '') or "invoices"."stripe_payment_intent_id" = nullif(current_setting('app.stripe_reference', true), ''));--> statement-breakpoint
CREATE POLICY "stripe_reference_lookup" ON "payments" AS PERMISSIVE FOR SELECT TO public USING ((case when "payments"."source" = 'STRIPE' then "payments"."reference" end) = nullif(current_setting('app.stripe_reference', true), ''));