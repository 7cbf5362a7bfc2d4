-- Hand-written: the tenant that hosts a name, for the public mail autoconfig routes
-- (modules/mail/autoconfig.service.ts), which are asked before any tenant is known. It answers
-- only for the exact name from the hosted names registry (mpanel_app cannot read the registry);
-- the caller then reads the mail domain in that tenant's own transaction, under its RLS policy.
CREATE FUNCTION "hosted_name_owner"(p_name text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT owner_tenant_id FROM hosted_names WHERE name = p_name
$$;
