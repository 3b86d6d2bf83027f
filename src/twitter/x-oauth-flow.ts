import http from 'node:http';
import https from 'node:https';
import { ApiResponseError, TwitterApi, type ITwitterApiClientPlugin } from 'twitter-api-v2';

/** The X app's own keys (consumer key and secret), as the developer portal shows them. */
export interface XAppKeys {
  consumerKey: string;
  consumerSecret: string;
}

const X_ORIGIN = 'https://api.x.com';

/**
 * twitter-api-v2 calls https://api.x.com/oauth/*; this points those calls at another server and
 * has the form-encoded answers parsed, which the library only does for api.x.com itself.
 */
function oauthRedirectPlugin(apiBaseUrl: string | null): ITwitterApiClientPlugin {
  const base = apiBaseUrl ? apiBaseUrl.replace(/\/+$/, '') : null;
  return {
    onBeforeRequestConfig({ params }) {
      if (!base || !params.url.startsWith(`${X_ORIGIN}/oauth/`)) return;
      params.forceParseMode ??= 'url';
      params.url = base + params.url.slice(X_ORIGIN.length);
    },
  };
}

function appClient(keys: XAppKeys, apiBaseUrl: string | null, token?: { token: string; secret: string }): TwitterApi {
  const httpAgent = apiBaseUrl?.startsWith('http://') ? new http.Agent() : new https.Agent();
  return new TwitterApi(
    { appKey: keys.consumerKey, appSecret: keys.consumerSecret, ...(token ? { accessToken: token.token, accessSecret: token.secret } : {}) },
    { plugins: [oauthRedirectPlugin(apiBaseUrl)], httpAgent },
  );
}

/** What X said when it refused a step, in words (X answers these endpoints in plain text). */
function reasonOf(error: unknown): string {
  if (error instanceof ApiResponseError) {
    const data = error.data as unknown;
    const text = typeof data === 'string' ? data : data && typeof data === 'object' ? Object.keys(data as object).join('&') : '';
    return `X answered ${error.code}${text ? `: ${text.slice(0, 200)}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

export class XOAuthStepError extends Error {}

/** Step 1: a request token for this callback, and the authorize page's address for the browser. */
export async function requestToken(keys: XAppKeys, apiBaseUrl: string | null, callback: string): Promise<{ token: string; secret: string; authorizeUrl: string }> {
  let link: Awaited<ReturnType<TwitterApi['generateAuthLink']>>;
  try {
    link = await appClient(keys, apiBaseUrl).generateAuthLink(callback, { linkMode: 'authorize' });
  } catch (error) {
    throw new XOAuthStepError(`X refused the request token (${reasonOf(error)}); check the X app's consumer key and secret and that ${callback} is an allowed callback URL`);
  }
  if (!link.oauth_token || !link.oauth_token_secret) throw new XOAuthStepError('X answered the request token call without a token');
  const authorizeUrl = apiBaseUrl ? link.url.replace(X_ORIGIN, apiBaseUrl.replace(/\/+$/, '')) : link.url;
  return { token: link.oauth_token, secret: link.oauth_token_secret, authorizeUrl };
}

/** Step 3: the verifier from the callback for the user's access token. */
export async function exchangeVerifier(keys: XAppKeys, apiBaseUrl: string | null, request: { token: string; secret: string }, verifier: string): Promise<{ accessToken: string; accessSecret: string; userId: string; screenName: string }> {
  try {
    const result = await appClient(keys, apiBaseUrl, request).login(verifier);
    return { accessToken: result.accessToken, accessSecret: result.accessSecret, userId: result.userId, screenName: result.screenName };
  } catch (error) {
    throw new XOAuthStepError(`X refused to exchange the verifier for an access token (${reasonOf(error)})`);
  }
}
