-- Hand-written: the mail tables are tenant-owned, so RLS applies to their owner too (see 0001).
ALTER TABLE "mail_domains" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "mail_aliases" FORCE ROW LEVEL SECURITY;
