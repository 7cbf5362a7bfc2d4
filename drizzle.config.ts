import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './src/db/migrations',
  dbCredentials: {
    // The owner role: migrations create and alter tables. The app itself connects as mpanel_app.
    url: process.env.MIGRATION_DATABASE_URL ?? 'postgres://mpanel@127.0.0.1:5432/mpanel',
  },
  strict: true,
  verbose: true,
});
