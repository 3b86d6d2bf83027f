import type { Knex } from 'knex';
import { inTransaction } from '../db/database';

export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: number;
  username: string;
  role: Role;
  passwordHash: string;
}

interface UserRow {
  id: number;
  username: string;
  role: Role;
  password_hash: string;
}

function toUser(row: UserRow): User {
  return { id: row.id, username: row.username, role: row.role, passwordHash: row.password_hash };
}

export class UserStore {
  constructor(private readonly db: Knex) {}

  /** This store on another connection, e.g. a transaction: `store.with(trx).method(…)`. */
  with(db: Knex): UserStore {
    return new UserStore(db);
  }

  async create(username: string, passwordHash: string, role: Role, now: string): Promise<number> {
    const [row] = await this.db('kbts_users').insert({ username, password_hash: passwordHash, role, created_at: now }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  /**
   * The first admin, made by the first-run form: null when a user exists already or another
   * form sent at the same moment won. The guard row's primary key decides between them.
   */
  async createFirstAdmin(username: string, passwordHash: string, now: string): Promise<number | null> {
    try {
      return await inTransaction(this.db, async (trx) => {
        await trx('kbts_first_run').insert({ id: 1, created_at: now });
        const row = await trx('kbts_users').count({ count: '*' }).first();
        if (Number(row?.count ?? 0) > 0) throw new FirstRunTaken();
        const [created] = await trx('kbts_users').insert({ username, password_hash: passwordHash, role: 'admin', created_at: now }).returning('id');
        return typeof created === 'object' ? created.id : created;
      });
    } catch (error) {
      if (error instanceof FirstRunTaken || /unique|constraint|duplicate/i.test(String((error as Error)?.message))) return null;
      throw error;
    }
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.db<UserRow>('kbts_users').where({ username }).first();
    return row ? toUser(row) : undefined;
  }

  async get(id: number): Promise<User | undefined> {
    const row = await this.db<UserRow>('kbts_users').where({ id }).first();
    return row ? toUser(row) : undefined;
  }

  async list(): Promise<User[]> {
    return (await this.db<UserRow>('kbts_users').orderBy('username')).map(toUser);
  }

  async count(): Promise<number> {
    const row = await this.db('kbts_users').count({ count: '*' }).first();
    return Number(row?.count ?? 0);
  }

  async countByRole(role: Role): Promise<number> {
    const row = await this.db('kbts_users').where({ role }).count({ count: '*' }).first();
    return Number(row?.count ?? 0);
  }

  async setRole(id: number, role: Role): Promise<void> {
    await this.db('kbts_users').where({ id }).update({ role });
  }

  async setPasswordHash(id: number, passwordHash: string): Promise<void> {
    await this.db('kbts_users').where({ id }).update({ password_hash: passwordHash });
  }

  async remove(id: number): Promise<void> {
    await this.db('kbts_users').where({ id }).delete();
  }
}

class FirstRunTaken extends Error {}
