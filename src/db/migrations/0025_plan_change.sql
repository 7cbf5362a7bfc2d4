ALTER TABLE "subscriptions" ADD COLUMN "pending_price_id" uuid;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "pending_plan_change_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_pending_price_id_prices_id_fk" FOREIGN KEY ("pending_price_id") REFERENCES "public"."prices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "subscriptions_pending_plan_idx" ON "subscriptions" USING btree ("pending_plan_change_at") WHERE "subscriptions"."pending_price_id" is not null;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_pending_plan_check" CHECK (("subscriptions"."pending_price_id" is null) = ("subscriptions"."pending_plan_change_at" is null));