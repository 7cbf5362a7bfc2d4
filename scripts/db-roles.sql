-- Roles and database mPanel needs; run as a PostgreSQL superuser (idempotent).
--   mpanel      owns the schema and runs migrations (MIGRATION_DATABASE_URL)
--   mpanel_app  what the API and workers connect as (DATABASE_URL): owns nothing, no BYPASSRLS,
--               so row-level security always applies to it.
-- Passwords are not set here: local installs use trust/peer auth on loopback; production sets them
-- with ALTER ROLE ... PASSWORD and puts them in the URLs.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mpanel') THEN
    CREATE ROLE mpanel LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mpanel_app') THEN
    CREATE ROLE mpanel_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;
