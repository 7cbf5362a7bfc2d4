-- Hand-written (drizzle-kit generate --custom): what the billing tables need beyond drizzle-kit.
--
-- 1. FORCE ROW LEVEL SECURITY on the new tenant-owned tables.
ALTER TABLE "billing_settings" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "document_sequences" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "tax_rates" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "invoices" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "invoice_lines" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "credit_notes" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "payments" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- 2. An issued mPanel invoice is immutable: its number, customer, subscription, currency, period,
--    totals, snapshots and issue date never change; its status moves only forward
--    (ISSUED -> PAID | VOID), the amount paid only up. A STRIPE mirror follows Stripe's events.
CREATE FUNCTION "invoices_immutable_once_issued"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD."billing_mode" <> 'MPANEL' THEN
    IF NEW."billing_mode" IS DISTINCT FROM OLD."billing_mode" THEN
      RAISE EXCEPTION 'invoice % cannot change its billing mode', OLD."id" USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD."status" = 'DRAFT' THEN
    IF NEW."status" = 'PAID' THEN
      RAISE EXCEPTION 'invoice % must be issued before it is paid', OLD."id" USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW."tenant_id" IS DISTINCT FROM OLD."tenant_id"
     OR NEW."billing_mode" IS DISTINCT FROM OLD."billing_mode"
     OR NEW."kind" IS DISTINCT FROM OLD."kind"
     OR NEW."number" IS DISTINCT FROM OLD."number"
     OR NEW."customer_id" IS DISTINCT FROM OLD."customer_id"
     OR NEW."subscription_id" IS DISTINCT FROM OLD."subscription_id"
     OR NEW."currency" IS DISTINCT FROM OLD."currency"
     OR NEW."subtotal" IS DISTINCT FROM OLD."subtotal"
     OR NEW."tax_total" IS DISTINCT FROM OLD."tax_total"
     OR NEW."total" IS DISTINCT FROM OLD."total"
     OR NEW."period_start" IS DISTINCT FROM OLD."period_start"
     OR NEW."period_end" IS DISTINCT FROM OLD."period_end"
     OR NEW."due_at" IS DISTINCT FROM OLD."due_at"
     OR NEW."issued_at" IS DISTINCT FROM OLD."issued_at"
     OR NEW."customer_snapshot" IS DISTINCT FROM OLD."customer_snapshot"
     OR NEW."seller_snapshot" IS DISTINCT FROM OLD."seller_snapshot"
     OR NEW."memo" IS DISTINCT FROM OLD."memo" THEN
    RAISE EXCEPTION 'invoice % is issued: its number, customer, lines and totals cannot change (issue a credit note)', OLD."id"
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF NOT (NEW."status" = OLD."status" OR (OLD."status" = 'ISSUED' AND NEW."status" IN ('PAID', 'VOID'))) THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD."id", OLD."status", NEW."status" USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF NEW."amount_paid" < OLD."amount_paid" THEN
    RAISE EXCEPTION 'invoice %: the amount paid cannot go down', OLD."id" USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF OLD."paid_through_applied_at" IS NOT NULL AND NEW."paid_through_applied_at" IS DISTINCT FROM OLD."paid_through_applied_at" THEN
    RAISE EXCEPTION 'invoice % already extended its subscription', OLD."id" USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "invoices_immutable_once_issued" BEFORE UPDATE ON "invoices" FOR EACH ROW EXECUTE FUNCTION "invoices_immutable_once_issued"();--> statement-breakpoint
-- 3. Only a draft may be deleted.
CREATE FUNCTION "invoices_delete_only_drafts"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD."status" <> 'DRAFT' THEN
    RAISE EXCEPTION 'invoice % is % and cannot be deleted', OLD."id", OLD."status" USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN OLD;
END
$$;--> statement-breakpoint
CREATE TRIGGER "invoices_delete_only_drafts" BEFORE DELETE ON "invoices" FOR EACH ROW EXECUTE FUNCTION "invoices_delete_only_drafts"();--> statement-breakpoint
-- 4. Lines change only while their mPanel invoice is a draft.
CREATE FUNCTION "invoice_lines_only_on_drafts"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  parent record;
BEGIN
  SELECT "status", "billing_mode" INTO parent FROM "invoices"
    WHERE "id" = (CASE WHEN TG_OP = 'DELETE' THEN OLD."invoice_id" ELSE NEW."invoice_id" END);
  IF FOUND AND parent."billing_mode" = 'MPANEL' AND parent."status" <> 'DRAFT' THEN
    RAISE EXCEPTION 'the invoice is % and its lines cannot change', parent."status" USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW."invoice_id" IS DISTINCT FROM OLD."invoice_id" THEN
    RAISE EXCEPTION 'a line cannot move to another invoice' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;--> statement-breakpoint
CREATE TRIGGER "invoice_lines_only_on_drafts" BEFORE INSERT OR UPDATE OR DELETE ON "invoice_lines" FOR EACH ROW EXECUTE FUNCTION "invoice_lines_only_on_drafts"();--> statement-breakpoint
-- 5. Credit notes and payments are records of what happened: never changed, never deleted.
CREATE FUNCTION "billing_records_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows cannot be changed or deleted', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$;--> statement-breakpoint
CREATE TRIGGER "credit_notes_append_only" BEFORE UPDATE OR DELETE ON "credit_notes" FOR EACH ROW EXECUTE FUNCTION "billing_records_append_only"();--> statement-breakpoint
CREATE TRIGGER "payments_append_only" BEFORE UPDATE OR DELETE ON "payments" FOR EACH ROW EXECUTE FUNCTION "billing_records_append_only"();
