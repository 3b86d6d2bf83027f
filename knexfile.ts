// For the knex command line; the product itself migrates through `kb-twitter-sync migrate`.
import { loadConfig } from './src/config';

const config = loadConfig();
const common = { migrations: { tableName: 'kbts_migrations', directory: './migrations', extension: 'ts' } };

export default config.database.client === 'postgres'
  ? { client: 'pg', connection: config.database.connection, ...common }
  : { client: 'better-sqlite3', connection: { filename: config.database.connection }, useNullAsDefault: true, ...common };
