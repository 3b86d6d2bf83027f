import { z } from 'zod';

/**
 * An X account's own settings (the credentials are checked by X itself, in the login test).
 * The lengths are those of the kbts_accounts columns, so a long value is refused in words
 * rather than by the database.
 */
export const accountDescription = z.string({ error: 'give the account a description' }).trim()
  .min(1, { error: 'give the account a description' })
  .max(200, { error: 'an account description has at most 200 characters' });

export const apiBaseUrl = z.string().trim()
  .max(500, { error: 'an API base URL has at most 500 characters', abort: true })
  .refine((value) => URL.canParse(value), {
    error: (issue) => `API base URL '${String(issue.input)}' is not a URL; give one like https://api.x.com or http://127.0.0.1:4000`,
    abort: true,
  })
  .refine((value) => ['http:', 'https:'].includes(new URL(value).protocol), {
    error: (issue) => `API base URL must start with http:// or https://, not ${new URL(String(issue.input).trim()).protocol}`,
  })
  .transform((value) => value.replace(/\/+$/, ''));
