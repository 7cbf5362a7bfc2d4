CREATE TABLE "hosted_names" (
	"name" text PRIMARY KEY NOT NULL,
	"owner_tenant_id" uuid NOT NULL,
	"domain_id" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "hosted_names_name_check" CHECK ("hosted_names"."name" = lower("hosted_names"."name") and char_length("hosted_names"."name") between 1 and 253 and right("hosted_names"."name", 1) <> '.')
);
--> statement-breakpoint
CREATE TABLE "platform_server_names" (
	"name" text NOT NULL,
	"server_id" uuid NOT NULL,
	CONSTRAINT "platform_server_names_name_server_id_pk" PRIMARY KEY("name","server_id")
);
--> statement-breakpoint
ALTER TABLE "orders" DROP CONSTRAINT "orders_tenant_payment_unique";--> statement-breakpoint
ALTER TABLE "hosted_names" ADD CONSTRAINT "hosted_names_owner_tenant_id_tenants_id_fk" FOREIGN KEY ("owner_tenant_id") REFERENCES "public"."tenants"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "hosted_names_reverse_idx" ON "hosted_names" USING btree ((reverse("name") collate "C"));--> statement-breakpoint
CREATE INDEX "platform_server_names_reverse_idx" ON "platform_server_names" USING btree ((reverse("name") collate "C"));--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_payment_unique" UNIQUE("payment_provider","payment_reference");