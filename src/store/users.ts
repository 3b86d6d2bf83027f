import type { Knex } from 'knex';

export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: number;
  username: string;
  role: Role;
  passwordHash: string;
}

export class UserStore {
  constructor(private readonly db: Knex) {}

  async create(username: string, passwordHash: string, role: Role, now: string): Promise<number> {
    const [row] = await this.db('kbts_users').insert({ username, password_hash: passwordHash, role, created_at: now }).returning('id');
    return typeof row === 'object' ? row.id : row;
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.db('kbts_users').where({ username }).first();
    return row ? { id: row.id, username: row.username, role: row.role, passwordHash: row.password_hash } : undefined;
  }

  async count(): Promise<number> {
    const row = await this.db('kbts_users').count({ count: '*' }).first();
    return Number(row?.count ?? 0);
  }
}
