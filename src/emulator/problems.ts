import http from 'node:http';

/**
 * X's error documents (RFC 7807 "problems"). Types the OpenAPI description lists use its
 * https://api.x.com/2/problems/ prefix; the ones it leaves out keep the values X is known to send
 * (about:blank for 401/403/429/5xx, and the api.twitter.com types for access problems).
 */
export const PROBLEM_BASE = 'https://api.x.com/2/problems/';
export const CLIENT_FORBIDDEN_TYPE = 'https://api.twitter.com/2/problems/client-forbidden';
export const OAUTH1_PERMISSIONS_TYPE = 'https://api.twitter.com/2/problems/oauth1-permissions';
export const DUPLICATE_CONTENT_DETAIL = 'You are not allowed to create a Tweet with duplicate content.';
export const TOO_LONG_MESSAGE =
  'Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text.';

export interface XResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Thrown by handlers to answer with an error document. */
export class XApiProblem extends Error {
  constructor(readonly response: XResponse) {
    super(`X API problem ${response.status}`);
  }
}

/** The bare problem X sends for plain HTTP failures (401, 403, 429, 5xx). */
export function blankProblem(status: number, detail?: string, title?: string): XResponse {
  const text = http.STATUS_CODES[status] ?? 'Error';
  return { status, body: { title: title ?? text, detail: detail ?? text, type: 'about:blank', status } };
}

export interface ParameterError {
  parameter?: string;
  value?: string;
  message: string;
}

/** 400 invalid-request: X's generic detail with one `errors` entry per offending parameter. */
export function invalidRequest(errors: ParameterError[]): XResponse {
  return {
    status: 400,
    body: {
      errors: errors.map((e) => (e.parameter !== undefined ? { parameters: { [e.parameter]: [e.value ?? ''] }, message: e.message } : { message: e.message })),
      title: 'Invalid Request',
      detail: 'One or more parameters to your request was invalid.',
      type: `${PROBLEM_BASE}invalid-request`,
    },
  };
}

export function unauthorized(): XResponse {
  return blankProblem(401, 'Unauthorized', 'Unauthorized');
}

export function tooManyRequests(): XResponse {
  return blankProblem(429, 'Too Many Requests', 'Too Many Requests');
}

/** X's answer once an account's pay-per-use credits are used up (the shape of ../shared/x-api/README.md, "2026"). */
export function creditsDepleted(): XResponse {
  return { status: 402, body: { title: 'Payment Required', detail: 'credits depleted', type: `${PROBLEM_BASE}credits-depleted` } };
}

export function duplicateContent(): XResponse {
  return blankProblem(403, DUPLICATE_CONTENT_DETAIL, 'Forbidden');
}

export function oauth1Permissions(): XResponse {
  return {
    status: 403,
    body: {
      title: 'Forbidden',
      type: OAUTH1_PERMISSIONS_TYPE,
      status: 403,
      detail: 'Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.',
    },
  };
}

export function clientNotEnrolled(clientId: string): XResponse {
  return {
    status: 403,
    body: {
      client_id: clientId,
      title: 'Client Forbidden',
      type: CLIENT_FORBIDDEN_TYPE,
      reason: 'client-not-enrolled',
      required_enrollment: 'Appropriate Level of API Access',
      registration_url: 'https://developer.x.com/en/portal/product',
      detail: 'This request needs a higher level of API access than the app is enrolled in (it cannot read this endpoint).',
    },
  };
}

/** A partial error X puts in `errors` next to (or instead of) `data` when some ids are not found. */
export function notFoundError(resourceType: 'tweet' | 'user', parameter: string, id: string): Record<string, string> {
  const noun = resourceType === 'tweet' ? 'tweet' : 'user';
  return {
    value: id,
    detail: `Could not find ${noun} with ${parameter}: [${id}].`,
    title: 'Not Found Error',
    resource_type: resourceType,
    parameter,
    resource_id: id,
    type: `${PROBLEM_BASE}resource-not-found`,
  };
}
