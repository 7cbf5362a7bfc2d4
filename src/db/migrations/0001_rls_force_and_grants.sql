-- Hand-written (drizzle-kit generate --custom): what drizzle-kit cannot express.
--
-- 1. FORCE ROW LEVEL SECURITY on every tenant-owned table, so the tenant_isolation policy also
--    applies to the table owner (mpanel), not only to mpanel_app. A superuser still bypasses RLS.
--    Every new tenant-owned table needs its line here (or in a later migration); the test
--    src/db/migrate.test.ts fails when a table with tenant_id is not RLS-enabled and forced.
ALTER TABLE "users" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "refresh_tokens" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "audit_logs" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "customers" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "products" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "prices" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "orders" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "subscriptions" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "domains" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "dns_zones" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "dns_records" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "servers" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "websites" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "deployments" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "mailboxes" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "backups" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "ssl_certificates" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "jobs" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
-- 2. Privileges of the application role (created by scripts/db-roles.sql). runMigrations()
--    repeats these after every run so tables added by later migrations are covered too.
--    The audit log is append-only for the application: no UPDATE, DELETE or TRUNCATE.
GRANT USAGE ON SCHEMA public TO mpanel_app;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mpanel_app;--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON "audit_logs" FROM mpanel_app;--> statement-breakpoint
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO mpanel_app;
