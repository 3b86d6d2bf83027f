import type { Knex } from 'knex';
import { listRecords } from '../kb/records';
import type { TableInfo } from '../kb/schema';
import type { PriceTable } from '../settings/prices';
import { containsUrl } from '../twitter/url-price';

/** What the wizard's review says about X's prices: the newest text's price, and the backfill's estimated cost. */
export interface WizardPricing {
  newestHasUrl: boolean;
  backfill: { records: number; withUrl: number; usd: number; sampled: boolean } | null;
}

// A backfill offer reads at most this many texts; a bigger table's cost is extrapolated from them.
const BACKFILL_SAMPLE = 10_000;

export async function wizardPricing(db: Knex, table: TableInfo, tweetField: string, existingRecords: number | null, newestText: string | null, prices: PriceTable): Promise<WizardPricing> {
  let backfill: WizardPricing['backfill'] = null;
  if (existingRecords) {
    const texts = (await listRecords(db, table, { limit: BACKFILL_SAMPLE, offset: 0 }))
      .map((record) => record[tweetField]).filter((value) => value !== null && value !== undefined && String(value).trim() !== '');
    const withUrlShare = texts.length === 0 ? 0 : texts.filter((value) => containsUrl(String(value))).length / texts.length;
    const tweetable = texts.length < BACKFILL_SAMPLE ? texts.length : Math.round(existingRecords * (texts.length / BACKFILL_SAMPLE));
    const withUrl = Math.round(tweetable * withUrlShare);
    backfill = {
      records: existingRecords, withUrl,
      usd: Math.round((withUrl * prices.post_created_with_url + (tweetable - withUrl) * prices.post_created) * 1000) / 1000,
      sampled: existingRecords > BACKFILL_SAMPLE,
    };
  }
  return { newestHasUrl: containsUrl(newestText), backfill };
}
