-- Hand-written (drizzle-kit generate --custom): the registry of hosted names across tenants.
--
-- A domain, a name under it or a parent of it is hosted by one tenant only, and no tenant hosts a
-- platform server's host name, a name under it or a parent of it. hosted_names and
-- platform_server_names have no row-level security and the application role has no privilege on
-- them (runMigrations revokes it): they are written by triggers and read through the SECURITY
-- DEFINER functions below, which answer only whether a name is free.
--
-- 1. The proper parents of a name, deepest first: 'a.b.example.com' → {b.example.com, example.com, com}.
CREATE FUNCTION "hosted_name_parents"(p_name text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(array_to_string(l.labels[i:], '.') ORDER BY i), '{}')
  FROM (SELECT string_to_array(p_name, '.') AS labels) l, generate_series(2, cardinality(l.labels)) AS i
$$;--> statement-breakpoint
-- 2. Why a name cannot be hosted by a tenant: 'PLATFORM' (a server's host name, under one, or a
--    parent of one), 'HOSTED' (another tenant holds it, a name under it or a parent of it), or NULL.
--    With p_lock, transaction-level advisory locks serialise writers of overlapping names (shared
--    on each parent, shallowest first, exclusive on the name itself), so two tenants ordering
--    a.example and www.a.example at once cannot both pass; siblings do not wait for each other.
CREATE FUNCTION "hosted_name_conflict"(p_name text, p_tenant uuid, p_lock boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  parents text[] := hosted_name_parents(p_name);
  below text := reverse('.' || p_name) COLLATE "C";
  parent text;
BEGIN
  IF p_lock THEN
    FOR i IN REVERSE cardinality(parents)..1 LOOP
      PERFORM pg_advisory_xact_lock_shared(hashtextextended('hosted-name:' || parents[i], 0));
    END LOOP;
    PERFORM pg_advisory_xact_lock(hashtextextended('hosted-name:' || p_name, 0));
  END IF;
  IF EXISTS (SELECT 1 FROM platform_server_names s WHERE s.name = p_name OR s.name = ANY (parents)
             OR (reverse(s.name) COLLATE "C" >= below AND reverse(s.name) COLLATE "C" < below || '~')) THEN
    RETURN 'PLATFORM';
  END IF;
  IF EXISTS (SELECT 1 FROM hosted_names h WHERE h.owner_tenant_id <> p_tenant AND (h.name = p_name OR h.name = ANY (parents)
             OR (reverse(h.name) COLLATE "C" >= below AND reverse(h.name) COLLATE "C" < below || '~'))) THEN
    RETURN 'HOSTED';
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
-- 3. Every domain row registers its name, whatever inserts it; an overlapping name is refused as a
--    unique violation on "hosted_names_overlap" (the intake checks first and answers 409 itself).
CREATE FUNCTION "domains_register_hosted_name"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF hosted_name_conflict(NEW.name, NEW.tenant_id, true) IS NOT NULL THEN
    RAISE EXCEPTION 'the name % overlaps a name hosted on this install', NEW.name
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'hosted_names_overlap';
  END IF;
  INSERT INTO hosted_names (name, owner_tenant_id, domain_id) VALUES (NEW.name, NEW.tenant_id, NEW.id) ON CONFLICT (name) DO NOTHING;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "domains_register_hosted_name" AFTER INSERT ON "domains" FOR EACH ROW EXECUTE FUNCTION "domains_register_hosted_name"();--> statement-breakpoint
CREATE FUNCTION "domains_name_is_fixed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a domain''s name does not change (domain %)', OLD.id USING ERRCODE = 'check_violation';
END
$$;--> statement-breakpoint
CREATE TRIGGER "domains_name_is_fixed" BEFORE UPDATE OF "name" ON "domains" FOR EACH ROW WHEN (OLD."name" IS DISTINCT FROM NEW."name") EXECUTE FUNCTION "domains_name_is_fixed"();--> statement-breakpoint
-- 4. A name is released when its zone is gone for good (the retention sweep), by the tenant that
--    holds it: the transaction's app.tenant_id.
CREATE FUNCTION "release_hosted_name"(p_domain uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  DELETE FROM hosted_names WHERE domain_id = p_domain AND owner_tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
$$;--> statement-breakpoint
-- 5. The servers' host names, kept in step with the servers table.
CREATE FUNCTION "servers_platform_names"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM platform_server_names WHERE server_id = OLD.id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO platform_server_names (name, server_id) VALUES (lower(NEW.hostname), NEW.id) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "servers_platform_names" AFTER INSERT OR UPDATE OF "hostname" OR DELETE ON "servers" FOR EACH ROW EXECUTE FUNCTION "servers_platform_names"();--> statement-breakpoint
-- 6. The rows that exist already (FORCE RLS hides them from the owner, hence NO FORCE / FORCE).
ALTER TABLE "domains" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
INSERT INTO "hosted_names" ("name", "owner_tenant_id", "domain_id")
  SELECT DISTINCT ON ("name") "name", "tenant_id", "id" FROM "domains" ORDER BY "name", "created_at" ON CONFLICT DO NOTHING;--> statement-breakpoint
ALTER TABLE "domains" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "servers" NO FORCE ROW LEVEL SECURITY;--> statement-breakpoint
INSERT INTO "platform_server_names" ("name", "server_id") SELECT lower("hostname"), "id" FROM "servers" ON CONFLICT DO NOTHING;--> statement-breakpoint
ALTER TABLE "servers" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
REVOKE ALL ON "hosted_names", "platform_server_names" FROM mpanel_app;
