// drizzle-kit reads this to generate migrations/ from src/db/schema.ts (`npm run db:generate`).
// Generation needs no database; migrations are applied by `provet-sync migrate` (src/db/migrate.ts),
// which sets search_path to PROVET_DB_SCHEMA first, so the generated SQL names no schema.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
});
