-- Hand-written (drizzle-kit generate --custom): the events outbox is tenant-owned, so its
-- tenant_isolation policy applies to the owner role too (see 0001_rls_force_and_grants.sql).
ALTER TABLE "domain_events" FORCE ROW LEVEL SECURITY;
