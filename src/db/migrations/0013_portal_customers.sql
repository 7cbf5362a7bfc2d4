CREATE TYPE "public"."customer_link_kind" AS ENUM('INVITATION', 'PASSWORD_RESET', 'SIGN_IN');--> statement-breakpoint
CREATE TYPE "public"."customer_role" AS ENUM('OWNER', 'BILLING', 'TECHNICAL');--> statement-breakpoint
ALTER TYPE "public"."actor_type" ADD VALUE 'CUSTOMER';--> statement-breakpoint
CREATE TABLE "customer_link_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"login_id" uuid NOT NULL,
	"kind" "customer_link_kind" NOT NULL,
	"token_hash" text NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"used_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customer_link_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
ALTER TABLE "customer_link_tokens" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "customer_logins" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"role" "customer_role" NOT NULL,
	"password_hash" text,
	"is_active" boolean DEFAULT true NOT NULL,
	"invited_by" uuid,
	"last_login_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "customer_logins" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "customer_refresh_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"customer_id" uuid NOT NULL,
	"login_id" uuid NOT NULL,
	"family_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"revoked_at" timestamp (3) with time zone,
	"replaced_by" uuid,
	"ip" text,
	"user_agent" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customer_refresh_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
ALTER TABLE "customer_refresh_tokens" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "two_factor_factors" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid,
	"customer_login_id" uuid,
	"customer_id" uuid,
	"secret_sealed" text NOT NULL,
	"confirmed_at" timestamp (3) with time zone,
	"last_step" bigint,
	"recovery_codes" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "two_factor_factors_principal_check" CHECK (("two_factor_factors"."user_id" is null) <> ("two_factor_factors"."customer_login_id" is null))
);
--> statement-breakpoint
ALTER TABLE "two_factor_factors" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "two_factor_staff_roles" "user_role"[] DEFAULT '{}'::user_role[] NOT NULL;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "two_factor_customers" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "billing_address" jsonb;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "tax_id" text;--> statement-breakpoint
ALTER TABLE "customer_link_tokens" ADD CONSTRAINT "customer_link_tokens_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_link_tokens" ADD CONSTRAINT "customer_link_tokens_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_link_tokens" ADD CONSTRAINT "customer_link_tokens_login_id_customer_logins_id_fk" FOREIGN KEY ("login_id") REFERENCES "public"."customer_logins"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_logins" ADD CONSTRAINT "customer_logins_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_logins" ADD CONSTRAINT "customer_logins_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_logins" ADD CONSTRAINT "customer_logins_invited_by_customer_logins_id_fk" FOREIGN KEY ("invited_by") REFERENCES "public"."customer_logins"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_refresh_tokens" ADD CONSTRAINT "customer_refresh_tokens_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_refresh_tokens" ADD CONSTRAINT "customer_refresh_tokens_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_refresh_tokens" ADD CONSTRAINT "customer_refresh_tokens_login_id_customer_logins_id_fk" FOREIGN KEY ("login_id") REFERENCES "public"."customer_logins"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "customer_refresh_tokens" ADD CONSTRAINT "customer_refresh_tokens_replaced_by_customer_refresh_tokens_id_fk" FOREIGN KEY ("replaced_by") REFERENCES "public"."customer_refresh_tokens"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "two_factor_factors" ADD CONSTRAINT "two_factor_factors_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "two_factor_factors" ADD CONSTRAINT "two_factor_factors_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "two_factor_factors" ADD CONSTRAINT "two_factor_factors_customer_login_id_customer_logins_id_fk" FOREIGN KEY ("customer_login_id") REFERENCES "public"."customer_logins"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "two_factor_factors" ADD CONSTRAINT "two_factor_factors_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "customer_link_tokens_login_idx" ON "customer_link_tokens" USING btree ("login_id","kind");--> statement-breakpoint
CREATE UNIQUE INDEX "customer_logins_tenant_email_lower_unique" ON "customer_logins" USING btree ("tenant_id",lower("email"));--> statement-breakpoint
CREATE INDEX "customer_logins_customer_idx" ON "customer_logins" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "customer_refresh_tokens_family_idx" ON "customer_refresh_tokens" USING btree ("family_id");--> statement-breakpoint
CREATE INDEX "customer_refresh_tokens_login_idx" ON "customer_refresh_tokens" USING btree ("login_id");--> statement-breakpoint
CREATE UNIQUE INDEX "two_factor_factors_user_unique" ON "two_factor_factors" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "two_factor_factors_customer_login_unique" ON "two_factor_factors" USING btree ("customer_login_id");--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "customers" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "customers"."id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "customers"."id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "orders" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "orders"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "orders"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "subscriptions" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "subscriptions"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "subscriptions"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "dns_records" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from dns_zones where dns_zones.id = "dns_records"."zone_id")) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from dns_zones where dns_zones.id = "dns_records"."zone_id"));--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "dns_zones" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from domains where domains.id = "dns_zones"."domain_id")) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from domains where domains.id = "dns_zones"."domain_id"));--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "domains" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "domains"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "domains"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "mailboxes" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from domains where domains.id = "mailboxes"."domain_id")) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from domains where domains.id = "mailboxes"."domain_id"));--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "ssl_certificates" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from domains where domains.id = "ssl_certificates"."domain_id")) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from domains where domains.id = "ssl_certificates"."domain_id"));--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "websites" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from subscriptions where subscriptions.id = "websites"."subscription_id")) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or exists (select 1 from subscriptions where subscriptions.id = "websites"."subscription_id"));--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "customer_link_tokens" AS PERMISSIVE FOR ALL TO public USING ("customer_link_tokens"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("customer_link_tokens"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "customer_link_tokens" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "customer_link_tokens"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "customer_link_tokens"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_token_lookup" ON "customer_link_tokens" AS PERMISSIVE FOR SELECT TO public USING ("customer_link_tokens"."token_hash" = nullif(current_setting('app.customer_token_hash', true), ''));--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "customer_logins" AS PERMISSIVE FOR ALL TO public USING ("customer_logins"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("customer_logins"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "customer_logins" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "customer_logins"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "customer_logins"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "customer_refresh_tokens" AS PERMISSIVE FOR ALL TO public USING ("customer_refresh_tokens"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("customer_refresh_tokens"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "customer_refresh_tokens" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "customer_refresh_tokens"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "customer_refresh_tokens"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_token_lookup" ON "customer_refresh_tokens" AS PERMISSIVE FOR SELECT TO public USING ("customer_refresh_tokens"."token_hash" = nullif(current_setting('app.customer_token_hash', true), ''));--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "two_factor_factors" AS PERMISSIVE FOR ALL TO public USING ("two_factor_factors"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("two_factor_factors"."tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "customer_isolation" ON "two_factor_factors" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.customer_id', true), '') is null or "two_factor_factors"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.customer_id', true), '') is null or "two_factor_factors"."customer_id" = nullif(current_setting('app.customer_id', true), '')::uuid);