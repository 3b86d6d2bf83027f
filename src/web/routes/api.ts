import express from 'express';
import type { Services } from '../../app';
import { countRecords, insertRecord, listRecords, readTableRecord, type FieldValue, type FieldValues } from '../../kb/records';
import { describeTable, listTables, type TableInfo } from '../../kb/schema';
import { toIso } from '../../lib/clock';
import { NotFoundError, UserFacingError, ValidationError, errorMessage } from '../../lib/errors';
import { knownTableOrFail, pathProblem } from '../kb-tables';
import { can } from '../middleware/auth';
import { hashToken } from '../middleware/session';
import { readStateFilter, recordsInState } from '../state-filter';
import { addAgentReplyApi } from './agent-replies';

const MAX_PAGE = 500;

/** `Authorization: Bearer kbts_…`: the token's user, with that user's role. */
function bearerAuth(services: Services): express.RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const found = match ? await services.apiTokens.findUserByHash(hashToken(match[1]), toIso(services.clock.now())) : undefined;
    if (!found) {
      res.set('WWW-Authenticate', 'Bearer realm="kb-twitter-sync"');
      res.status(401).json({ error: 'send a valid API token as "Authorization: Bearer <token>" (a revoked or expired token is refused); create one on your account page' });
      return;
    }
    await services.apiTokens.touch(found.tokenId, toIso(services.clock.now()));
    req.user = { id: found.userId, username: found.username, role: found.role };
    next();
  };
}

function describe(table: TableInfo) {
  return {
    name: table.name,
    primary_key: table.primaryKey,
    columns: table.columns.map((column) => ({ name: column.name, type: column.type, nullable: column.nullable, max_length: column.maxLength })),
  };
}

/**
 * `?limit=` and `?offset=`: decimal digits only. `Number()` would take '' as 0 and '0x10' or
 * '1e2' as numbers, which no one means in a query string.
 */
export function pageParameter(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new ValidationError(`${name} must be given once, as a whole number from 0 to ${max}`);
  if (!/^\d+$/.test(value)) {
    throw new ValidationError(`${name} must be a whole number from 0 to ${max} written in decimal digits, not '${value}'${value === '' ? ' (empty)' : ''}`);
  }
  const number = Number(value);
  if (number > max) throw new ValidationError(`${name} must be at most ${max}, not ${value}`);
  return number;
}

/** The JSON API for record creators: list tables, read records, create a record. */
export function apiRoutes(services: Services): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '1mb' }));
  router.use(bearerAuth(services));

  router.get('/tables', async (_req, res) => {
    // A table the product cannot serve is listed with the reason instead of failing the list.
    const tables = await Promise.all((await listTables(services.db)).map(async (name) => {
      const problem = pathProblem(name);
      if (problem) return { name, problem };
      try {
        const table = await describeTable(services.db, name);
        return table ? describe(table) : { name, problem: 'it disappeared while being read' };
      } catch (error) {
        return { name, problem: `cannot be read: ${errorMessage(error)}` };
      }
    }));
    res.json({ tables });
  });

  router.get('/tables/:table/records', async (req, res) => {
    const table = await knownTableOrFail(services.db, req.params.table);
    const limit = pageParameter('limit', req.query.limit, 50, MAX_PAGE);
    const offset = pageParameter('offset', req.query.offset, 0, Number.MAX_SAFE_INTEGER);
    // ?state=failed (&integration=2): as the records page, only records in that tweet state.
    const integrations = (await services.integrations.list()).filter((integration) => integration.tableName === table.name);
    const { integration, state } = readStateFilter(req.query, table, integrations);
    if (integration && state) {
      const { total, records } = await recordsInState(services.db, services.publications, table, { integration, state }, { limit, offset });
      res.json({ table: table.name, integration_id: integration.id, state, total, limit, offset, records });
      return;
    }
    res.json({ table: table.name, total: await countRecords(services.db, table.name), limit, offset, records: await listRecords(services.db, table, { limit, offset }) });
  });

  router.get('/tables/:table/records/:key', async (req, res) => {
    const table = await knownTableOrFail(services.db, req.params.table);
    if (table.primaryKey.length !== 1) throw new NotFoundError(`table '${table.name}' has no single-column primary key`);
    const record = await readTableRecord(services.db, table, req.params.key);
    if (!record) throw new NotFoundError(`table '${table.name}' has no record ${req.params.key}`);
    const integrations = (await services.integrations.list()).filter((integration) => integration.tableName === table.name);
    const publications = await Promise.all(integrations.map(async (integration) => {
      const publication = await services.publications.findByRecord(integration.id, req.params.key);
      return { integration_id: integration.id, state: publication?.state ?? null, tweet_id: publication?.tweetId ?? null, reason: publication?.reason ?? null };
    }));
    res.json({ table: table.name, key: req.params.key, record, publications });
  });

  router.post('/tables/:table/records', async (req, res) => {
    if (!can(req.user?.role, 'write-records')) throw new UserFacingError('forbidden', 'this token belongs to a viewer; creating records needs an editor or admin', { status: 403 });
    const table = await knownTableOrFail(services.db, req.params.table);
    const body: unknown = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('send the record as a JSON object of column names and values');
    const values: FieldValues = new Map();
    const unknown: string[] = [];
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      const column = table.columns.find((candidate) => candidate.name === name);
      if (!column) unknown.push(name);
      else if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) values.set(column.name, value as FieldValue);
      else throw new ValidationError(`column '${name}' takes a string, number, boolean or null`);
    }
    if (unknown.length > 0) throw new ValidationError(`table '${table.name}' has no column ${unknown.map((name) => `'${name}'`).join(', ')}; its columns are ${table.columns.map((column) => column.name).join(', ')}`);
    if (values.size === 0) throw new ValidationError('send at least one column value');
    let key: string | null;
    try {
      key = await insertRecord(services.db, table, values);
    } catch (error) {
      // A constraint in words is a ValidationError with its field (400); anything else stays out of the answer.
      if (error instanceof ValidationError) throw error;
      services.logger.error('the KB refused a record from the API', { table: table.name, error: errorMessage(error) });
      throw new UserFacingError('refused', 'the database refused the record for a reason the API cannot name; the server log has the details', { status: 422 });
    }
    // Committed: the publisher of this process tweets it now, whatever the polling frequency.
    services.signals.recordsChanged(table.name);
    const record = key === null ? null : await readTableRecord(services.db, table, key);
    res.status(201).json({ table: table.name, key, record });
  });

  addAgentReplyApi(services, router);

  router.use((_req, res) => {
    res.status(404).json({ error: 'no such API path; see GET /api/v1/tables' });
  });
  return router;
}
