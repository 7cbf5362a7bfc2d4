ALTER TABLE "subscriptions" ADD COLUMN "billing_next_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "subscriptions_billing_next_idx" ON "subscriptions" USING btree ("tenant_id","billing_next_at") WHERE "subscriptions"."billing_mode" = 'MPANEL' and "subscriptions"."status" in ('ACTIVE', 'PAST_DUE', 'SUSPENDED');--> statement-breakpoint
-- billing_next_at is the billing run's own note of when it next has something to do for the
-- subscription (modules/billing/billing-run.ts). Whatever else changes what the dunning policy sees
-- sets it back to NULL (= look at it on the next run): any other change of the subscription row,
-- any write of one of its invoices, and any write of the tenant's billing settings. Only an UPDATE
-- that sets billing_next_at itself and nothing else keeps the value it writes.
CREATE FUNCTION "subscriptions_billing_next_reset"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."billing_next_at" IS NOT DISTINCT FROM OLD."billing_next_at"
     AND NEW."billing_next_at" IS NOT NULL
     AND (to_jsonb(NEW) - 'billing_next_at' - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'billing_next_at' - 'updated_at') THEN
    NEW."billing_next_at" := NULL;
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER "subscriptions_billing_next_reset" BEFORE UPDATE ON "subscriptions" FOR EACH ROW EXECUTE FUNCTION "subscriptions_billing_next_reset"();--> statement-breakpoint
CREATE FUNCTION "invoices_billing_next_reset"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  subscription uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD."subscription_id" ELSE NEW."subscription_id" END;
BEGIN
  IF subscription IS NOT NULL THEN
    UPDATE "subscriptions" SET "billing_next_at" = NULL WHERE "id" = subscription AND "billing_next_at" IS NOT NULL;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "invoices_billing_next_reset" AFTER INSERT OR UPDATE OR DELETE ON "invoices" FOR EACH ROW EXECUTE FUNCTION "invoices_billing_next_reset"();--> statement-breakpoint
CREATE FUNCTION "billing_settings_billing_next_reset"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "subscriptions" SET "billing_next_at" = NULL WHERE "tenant_id" = NEW."tenant_id" AND "billing_next_at" IS NOT NULL;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "billing_settings_billing_next_reset" AFTER INSERT OR UPDATE ON "billing_settings" FOR EACH ROW EXECUTE FUNCTION "billing_settings_billing_next_reset"();
