import { z } from 'zod';

/**
 * X's billable units (pay-per-use since February 2026), as the cost meter counts them from X's
 * answers: reads per resource returned, creations per resource created.
 */
export const BILLABLE_UNITS = [
  'owned_read', 'post_read', 'user_read', 'dm_event_read', 'post_created', 'post_created_with_url', 'dm_created', 'media_upload',
] as const;
export type BillableUnit = (typeof BILLABLE_UNITS)[number];
export type PriceTable = Readonly<Record<BillableUnit, number>>;

/** What each unit is, as people read it (dashboard, accounts page, `account costs`). */
export const UNIT_LABELS: Readonly<Record<BillableUnit, string>> = {
  owned_read: 'owned reads (the account\'s own mentions and posts)',
  post_read: 'other post reads',
  user_read: 'user reads',
  dm_event_read: 'DM event reads',
  post_created: 'posts created',
  post_created_with_url: 'posts created with a URL',
  dm_created: 'DMs created',
  media_upload: 'media uploads',
};

/**
 * X's list prices in US dollars (X's documentation, August 2026). X changes them: KBTS_X_PRICES
 * overrides any of them. X lists no price of its own for a media upload, so it counts 0 unless set.
 */
export const DEFAULT_PRICES: PriceTable = {
  owned_read: 0.001,
  post_read: 0.005,
  user_read: 0.010,
  dm_event_read: 0.010,
  post_created: 0.015,
  post_created_with_url: 0.200,
  dm_created: 0.015,
  media_upload: 0,
};

const price = (unit: BillableUnit) => z.unknown().transform((value, context) => {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
    context.addIssue({ code: 'custom', message: `the price of ${unit} must be a number of US dollars, 0 or more (such as ${DEFAULT_PRICES[unit]}), not ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return number;
});

const overridesSchema = z.object(Object.fromEntries(BILLABLE_UNITS.map((unit) => [unit, price(unit).optional()])) as Record<BillableUnit, z.ZodOptional<ReturnType<typeof price>>>);

/**
 * The price table from KBTS_X_PRICES: a JSON object of the prices that differ from X's list,
 * e.g. {"post_created_with_url":0.25}. Returns the problem in words, or the whole table.
 */
export function parsePriceTable(text: string | undefined): { prices: PriceTable } | { problem: string } {
  if (text === undefined || text.trim() === '') return { prices: DEFAULT_PRICES };
  let given: unknown;
  try {
    given = JSON.parse(text);
  } catch {
    return { problem: `KBTS_X_PRICES must be a JSON object of prices in US dollars, such as {"post_created_with_url":0.2}; it is not JSON: ${text}` };
  }
  if (!given || typeof given !== 'object' || Array.isArray(given)) {
    return { problem: `KBTS_X_PRICES must be a JSON object of prices in US dollars, such as {"post_created_with_url":0.2}, not ${text}` };
  }
  const unknown = Object.keys(given).filter((key) => !(BILLABLE_UNITS as readonly string[]).includes(key));
  if (unknown.length > 0) return { problem: `KBTS_X_PRICES names no such unit: ${unknown.map((key) => `"${key}"`).join(', ')}; the units are ${BILLABLE_UNITS.join(', ')}` };
  const parsed = overridesSchema.safeParse(given);
  if (!parsed.success) return { problem: `KBTS_X_PRICES: ${parsed.error.issues.map((issue) => issue.message).join('; ')}` };
  const overrides = Object.fromEntries(Object.entries(parsed.data).filter(([, value]) => value !== undefined));
  return { prices: Object.freeze({ ...DEFAULT_PRICES, ...overrides }) };
}

/** A budget from a person (CLI, accounts page): dollars above 0, or "none" to lift it. */
export const monthlyBudget = z.string({ error: 'give a monthly budget in US dollars, such as 25, or "none" to lift it' }).trim()
  .transform((value, context) => {
    if (/^(none|off|)$/i.test(value)) return null;
    const amount = /^-?\$?\d+(\.\d{1,2})?$/.test(value) ? Number(value.replace('$', '')) : NaN;
    if (Number.isNaN(amount)) {
      context.addIssue({ code: 'custom', message: `a monthly budget is an amount of US dollars such as 25 or 12.50 (or "none" to lift it), not "${value}"` });
      return z.NEVER;
    }
    if (amount <= 0) {
      context.addIssue({ code: 'custom', message: `a monthly budget must be more than $0 (to stop the account's work, pause its integrations; to have no budget, give "none"), not "${value}"` });
      return z.NEVER;
    }
    return amount;
  });

/** Dollars as people read them: cents, or a tenth of a cent below a dollar when it matters. */
export function formatUsd(usd: number): string {
  if (usd > 0 && usd < 1) return `$${usd.toFixed(3)}`;
  return `$${usd.toFixed(2)}`;
}
