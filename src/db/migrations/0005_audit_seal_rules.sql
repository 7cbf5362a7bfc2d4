-- Hand-written (drizzle-kit generate --custom): sealing the audit log after commit.
--
-- 1. Rows written before the sealer existed were chained at insert, in seq order, under a
--    per-tenant lock: their place in the chain is their rank by seq. The owner role runs
--    migrations and FORCE RLS hides every row from it, hence the NO FORCE / FORCE around it.
ALTER TABLE "audit_logs" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
UPDATE "audit_logs" a SET "chain_seq" = n."chain_seq", "sealed_at" = a."created_at"
  FROM (SELECT "id", row_number() OVER (PARTITION BY "tenant_id" ORDER BY "seq") AS "chain_seq" FROM "audit_logs" WHERE "hash" IS NOT NULL) n
  WHERE a."id" = n."id" AND a."chain_seq" IS NULL;--> statement-breakpoint
ALTER TABLE "audit_logs" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- 2. A row is sealed once: the seal (chain_seq, prev_hash, hash, sealed_at) is the only update the
--    application may make (column privileges, re-applied by runMigrations), only while the row is
--    unsealed, and it must set the place and the hash together.
CREATE FUNCTION "audit_logs_seal_once"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD."hash" IS NOT NULL THEN
    RAISE EXCEPTION 'audit_logs row % is sealed and cannot change', OLD."id" USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW."hash" IS NULL OR NEW."chain_seq" IS NULL THEN
    RAISE EXCEPTION 'sealing audit_logs row % must set chain_seq and hash', OLD."id" USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "audit_logs_seal_once" BEFORE UPDATE ON "audit_logs" FOR EACH ROW EXECUTE FUNCTION "audit_logs_seal_once"();--> statement-breakpoint
GRANT UPDATE ("chain_seq", "prev_hash", "hash", "sealed_at") ON "audit_logs" TO mpanel_app;
