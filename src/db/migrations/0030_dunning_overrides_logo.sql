CREATE TABLE "billing_logos" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"content_type" text NOT NULL,
	"image" "bytea" NOT NULL,
	"sha256" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_logos_type_check" CHECK ("billing_logos"."content_type" in ('image/png', 'image/jpeg')),
	CONSTRAINT "billing_logos_size_check" CHECK (octet_length("billing_logos"."image") between 1 and 262144)
);
--> statement-breakpoint
ALTER TABLE "billing_logos" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "products" ADD COLUMN "dunning_override" jsonb;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "dunning_override" jsonb;--> statement-breakpoint
ALTER TABLE "billing_logos" ADD CONSTRAINT "billing_logos_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "billing_logos" AS PERMISSIVE FOR ALL TO public USING ("billing_logos"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("billing_logos"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
ALTER TABLE "billing_logos" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- A product's or a customer's dunning override changes what the billing run's policy sees for
-- their subscriptions: their billing_next_at goes back to NULL (= look again on the next run), as
-- for a change of the tenant's billing settings (0024_billing_next_at.sql). Only when the override
-- itself changes: customers are updated for many other reasons.
CREATE FUNCTION "products_billing_next_reset"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "subscriptions" SET "billing_next_at" = NULL
  WHERE "billing_next_at" IS NOT NULL AND "tenant_id" = NEW."tenant_id"
    AND "price_id" IN (SELECT "id" FROM "prices" WHERE "product_id" = NEW."id");
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "products_billing_next_reset" AFTER UPDATE OF "dunning_override" ON "products" FOR EACH ROW
  WHEN (OLD."dunning_override" IS DISTINCT FROM NEW."dunning_override") EXECUTE FUNCTION "products_billing_next_reset"();--> statement-breakpoint
CREATE FUNCTION "customers_billing_next_reset"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "subscriptions" SET "billing_next_at" = NULL
  WHERE "billing_next_at" IS NOT NULL AND "tenant_id" = NEW."tenant_id" AND "customer_id" = NEW."id";
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "customers_billing_next_reset" AFTER UPDATE OF "dunning_override" ON "customers" FOR EACH ROW
  WHEN (OLD."dunning_override" IS DISTINCT FROM NEW."dunning_override") EXECUTE FUNCTION "customers_billing_next_reset"();
