import type { Command } from 'commander';
import type { Services } from '../app';
import { formatUsd } from '../settings/prices';
import { accountCosts, costsJson, describeCosts, parseMonth, setMonthlyBudget, type AccountCostsDeps } from '../sync/account-costs';

interface CliTools {
  withServices<T>(work: (services: Services) => Promise<T>): Promise<T>;
  print(command: Command, value: Record<string, unknown>, human: string): void;
  parseId(value: string, what: string): number;
}

const depsOf = (services: Services): AccountCostsDeps => ({ db: services.db, accounts: services.accounts, meter: services.costs.meter, probe: services.costs.probe });

/** `account costs ID [--month YYYY-MM]` and `account budget ID AMOUNT|none`: the cost meter and budgets. */
export function addAccountCostCommands(account: Command, tools: CliTools): void {
  account.command('costs <id>')
    .description('the estimated X cost of the account today and this month (UTC), by billable unit, with its budget')
    .option('--month <YYYY-MM>', 'another month than this one')
    .action(async (id: string, options: { month?: string }, command: Command) => {
      const month = parseMonth(options.month);
      const accountId = tools.parseId(id, 'account id');
      await tools.withServices(async (services) => {
        const estimate = await accountCosts(depsOf(services), accountId, month);
        tools.print(command, costsJson(estimate, services.costs.meter.prices), describeCosts(estimate));
      });
    });
  account.command('budget <id> <amount>')
    .description('set the account\'s monthly X budget in US dollars (e.g. 25), or "none" to lift it; at 80 % the dashboard warns, at 100 % the account\'s work waits')
    .action(async (id: string, amount: string, _options, command: Command) => {
      const accountId = tools.parseId(id, 'account id');
      await tools.withServices(async (services) => {
        const estimate = await setMonthlyBudget(depsOf(services), accountId, amount);
        tools.print(command, costsJson(estimate, services.costs.meter.prices), estimate.monthlyBudgetUsd === null
          ? `account ${accountId}: no monthly budget`
          : `account ${accountId}: monthly budget ${formatUsd(estimate.monthlyBudgetUsd)} (${formatUsd(estimate.month.usd)} used this month)`);
      });
    });
}
