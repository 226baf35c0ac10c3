// drizzle-kit reads this to generate migrations/control/ from src/db/control/schema.ts, the fleet's
// registry (`npx drizzle-kit generate --config drizzle.control.config.ts`). As with the mirror's
// migrations, the SQL names no schema: `migrate` sets search_path to PROVET_CONTROL_SCHEMA first.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/control/schema.ts',
  out: './migrations/control',
});
