import type { Knex } from 'knex';
import * as createUsers from '../../migrations/20261122000100_create_users';
import * as createAccounts from '../../migrations/20261122000200_create_accounts';
import * as createIntegrations from '../../migrations/20261122000300_create_integrations';
import * as createPublications from '../../migrations/20261122000400_create_publications';
import * as createCommunications from '../../migrations/20261122000500_create_communications';
import * as createLeases from '../../migrations/20261122000600_create_leases';
import * as createSessions from '../../migrations/20261122010100_create_sessions';
import * as createApiTokens from '../../migrations/20261122010200_create_api_tokens';
import * as createLoginLimits from '../../migrations/20261201000100_create_login_limits';
import * as createFirstRunGuard from '../../migrations/20261201000200_create_first_run_guard';
import * as addApiTokenExpiry from '../../migrations/20261201000300_add_api_token_expiry';
import * as createFormTokens from '../../migrations/20261201000400_create_form_tokens';
import * as addCommunicationsHeldUntilResume from '../../migrations/20261201001400_add_communications_held_until_resume';
import * as oneIntegrationPerTweetField from '../../migrations/20261202000200_one_integration_per_tweet_field';
import * as createSandboxTables from '../../migrations/20261202000300_create_sandbox_tables';
import * as createUnreadableWindows from '../../migrations/20261202000310_create_unreadable_windows';
import * as createAccountWebhooks from '../../migrations/20261202000500_create_account_webhooks';
import * as indexPublicationsUpdatedAt from '../../migrations/20261202000600_index_publications_updated_at';
import * as captureTriggersNotify from '../../migrations/20261202000400_capture_triggers_notify';
import * as createXAppAndOAuthRequests from '../../migrations/20261202000900_create_x_app_and_oauth_requests';
import * as addNoRepliesAlerts from '../../migrations/20261202000800_add_no_replies_alerts';
import * as createXUsage from '../../migrations/20261203100100_create_x_usage';
import * as createAgentReplies from '../../migrations/20261203110100_create_agent_replies';
import * as addMedia from '../../migrations/20261203120100_add_media';
import * as createChannels from '../../migrations/20261203130100_create_channels';
import * as addDmReplyRequestKey from '../../migrations/20261203130200_add_dm_reply_request_key';
import * as addChannelReplyTarget from '../../migrations/20261203130300_add_channel_reply_target';
import * as addSandboxTweetMedia from '../../migrations/20261203140100_add_sandbox_tweet_media';
import * as addAccountBacklogWindow from '../../migrations/20261204100100_add_account_backlog_window';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

// Listed statically so migrations run the same from source (tsx) and from the compiled dist/.
const MIGRATIONS: Array<[string, Migration]> = [
  ['20261122000100_create_users', createUsers],
  ['20261122000200_create_accounts', createAccounts],
  ['20261122000300_create_integrations', createIntegrations],
  ['20261122000400_create_publications', createPublications],
  ['20261122000500_create_communications', createCommunications],
  ['20261122000600_create_leases', createLeases],
  ['20261122010100_create_sessions', createSessions],
  ['20261122010200_create_api_tokens', createApiTokens],
  ['20261201000100_create_login_limits', createLoginLimits],
  ['20261201000200_create_first_run_guard', createFirstRunGuard],
  ['20261201000300_add_api_token_expiry', addApiTokenExpiry],
  ['20261201000400_create_form_tokens', createFormTokens],
  ['20261201001400_add_communications_held_until_resume', addCommunicationsHeldUntilResume],
  ['20261202000200_one_integration_per_tweet_field', oneIntegrationPerTweetField],
  ['20261202000300_create_sandbox_tables', createSandboxTables],
  ['20261202000310_create_unreadable_windows', createUnreadableWindows],
  ['20261202000400_capture_triggers_notify', captureTriggersNotify],
  ['20261202000500_create_account_webhooks', createAccountWebhooks],
  ['20261202000600_index_publications_updated_at', indexPublicationsUpdatedAt],
  ['20261202000800_add_no_replies_alerts', addNoRepliesAlerts],
  ['20261202000900_create_x_app_and_oauth_requests', createXAppAndOAuthRequests],
  ['20261203100100_create_x_usage', createXUsage],
  ['20261203110100_create_agent_replies', createAgentReplies],
  ['20261203120100_add_media', addMedia],
  ['20261203130100_create_channels', createChannels],
  ['20261203130200_add_dm_reply_request_key', addDmReplyRequestKey],
  ['20261203130300_add_channel_reply_target', addChannelReplyTarget],
  ['20261203140100_add_sandbox_tweet_media', addSandboxTweetMedia],
  ['20261204100100_add_account_backlog_window', addAccountBacklogWindow],
];

export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
