import http from 'node:http';
import https from 'node:https';
import { TwitterApi, type ITwitterApiClientPlugin } from 'twitter-api-v2';

export interface XCredentials {
  apiKey: string;
  apiKeySecret: string;
  accessToken: string;
  accessTokenSecret: string;
}

const X_API_ORIGIN = 'https://api.x.com';

// One keep-alive agent per protocol for the whole process: a daemon makes a client per poll, and
// an agent per client left each poll's idle socket (and, against X, its TLS session) to be thrown
// away and opened again on the next one. Idle sockets of an agent are unref'd, so they hold no
// process open.
const sharedHttpsAgent = new https.Agent({ keepAlive: true });
const sharedHttpAgent = new http.Agent({ keepAlive: true });

/**
 * twitter-api-v2 has no base-URL option; rewriting the URL before the request is signed
 * keeps the OAuth 1.0a signature valid for the server we actually talk to.
 */
function redirectPlugin(apiBaseUrl: string): ITwitterApiClientPlugin {
  const base = apiBaseUrl.replace(/\/+$/, '');
  return {
    onBeforeRequestConfig({ params }) {
      if (!params.url.startsWith(X_API_ORIGIN)) return;
      const path = params.url.slice(X_API_ORIGIN.length);
      // The library picks JSON bodies by looking for "/2/" at the start of the path, which a
      // base URL with a path of its own (e.g. /sandbox/x) would hide.
      if (path.startsWith('/2/')) params.forceBodyMode ??= 'json';
      params.url = base + path;
    },
  };
}

/** A twitter-api-v2 client for one account, pointed at X itself or at any X-compatible server. */
export function createTwitterApi(
  credentials: XCredentials,
  apiBaseUrl?: string | null,
  extraPlugins: ITwitterApiClientPlugin[] = [],
): TwitterApi {
  const plugins = apiBaseUrl ? [redirectPlugin(apiBaseUrl), ...extraPlugins] : [...extraPlugins];
  // The library always calls https.request; an http:// target needs a plain agent.
  const httpAgent = apiBaseUrl?.startsWith('http://') ? sharedHttpAgent : sharedHttpsAgent;
  return new TwitterApi(
    {
      appKey: credentials.apiKey,
      appSecret: credentials.apiKeySecret,
      accessToken: credentials.accessToken,
      accessSecret: credentials.accessTokenSecret,
    },
    { plugins, httpAgent },
  );
}
