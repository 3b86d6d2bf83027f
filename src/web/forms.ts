import type express from 'express';
import { ValidationError } from '../lib/errors';

/** A form field as trimmed text; anything that is not a single string counts as empty. */
export function text(req: express.Request, name: string): string {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value.trim() : '';
}

/** A form field exactly as typed (secrets, passwords and record values keep their spaces). */
export function raw(req: express.Request, name: string): string {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

export function checked(req: express.Request, name: string): boolean {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return value === 'on' || value === 'true' || value === '1' || value === 'yes';
}

export function queryText(req: express.Request, name: string): string {
  const value = req.query[name];
  return typeof value === 'string' ? value.trim() : '';
}

export function positiveId(value: unknown, what = 'id'): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id <= 0) throw new ValidationError(`${what} must be a positive whole number`);
  return id;
}

export function pageNumber(req: express.Request): number {
  const page = Number(queryText(req, 'page') || '1');
  return Number.isInteger(page) && page >= 1 && page <= 1_000_000 ? page : 1;
}

/** Problems keyed by the form field they belong to, for showing beside it. */
export type FieldErrors = Record<string, string[]>;

/**
 * A map keyed by names from the knowledgebase (columns), for views: without a prototype, so a
 * column named `constructor` or `toString` finds only its own entry, and `__proto__` is a key.
 */
export function byName<T>(entries: Iterable<[string, T]> = []): Record<string, T> {
  const map: Record<string, T> = Object.create(null);
  for (const [name, value] of entries) map[name] = value;
  return map;
}

export function byField(problems: Array<{ field?: string; message: string }>, fallback = 'form'): FieldErrors {
  const errors: FieldErrors = {};
  for (const problem of problems) (errors[problem.field ?? fallback] ??= []).push(problem.message);
  return errors;
}

export const USERNAME_PATTERN = /^[\w.@-]{1,100}$/;
export const MIN_PASSWORD_LENGTH = 10;

/** The same rules as `admin create`. */
export function checkNewUser(username: string, password: string, repeat: string | null): FieldErrors {
  const errors: FieldErrors = {};
  if (!USERNAME_PATTERN.test(username)) errors.username = ['a username is 1 to 100 letters, digits, or . _ @ -'];
  if (password.length < MIN_PASSWORD_LENGTH) errors.password = [`the password must be at least ${MIN_PASSWORD_LENGTH} characters long`];
  else if (repeat !== null && password !== repeat) errors.passwordRepeat = ['the two passwords differ'];
  return errors;
}
