-- Hand-written (drizzle-kit generate --custom): FORCE ROW LEVEL SECURITY on the client portal's
-- tables (see 0001), so their tenant and customer policies apply to the owner role too.
ALTER TABLE "customer_logins" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "customer_link_tokens" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "customer_refresh_tokens" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "two_factor_factors" FORCE ROW LEVEL SECURITY;
