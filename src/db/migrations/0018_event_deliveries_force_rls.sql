-- Hand-written (drizzle-kit generate --custom): the delivery tables are tenant-owned, so their
-- tenant_isolation policy applies to the owner role too (see 0001_rls_force_and_grants.sql).
ALTER TABLE "event_deliveries" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "notification_settings" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "notification_templates" FORCE ROW LEVEL SECURITY;
