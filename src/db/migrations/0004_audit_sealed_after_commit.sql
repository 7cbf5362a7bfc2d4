ALTER TABLE "audit_logs" ALTER COLUMN "hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "chain_seq" bigint;--> statement-breakpoint
ALTER TABLE "audit_logs" ADD COLUMN "sealed_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_logs_tenant_chain_seq_unique" ON "audit_logs" USING btree ("tenant_id","chain_seq");--> statement-breakpoint
CREATE INDEX "audit_logs_unsealed_idx" ON "audit_logs" USING btree ("tenant_id","seq") WHERE "audit_logs"."hash" is null;--> statement-breakpoint
CREATE POLICY "audit_seal_scan" ON "audit_logs" AS PERMISSIVE FOR SELECT TO public USING (nullif(current_setting('app.audit_seal', true), '') = 'on' and "audit_logs"."hash" is null);