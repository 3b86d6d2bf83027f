import type express from 'express';
import type { FormTokenStore } from '../../store/form-tokens';
import { raw } from '../forms';

/** The hidden field a create form carries its one-time token in (views/partials/form-token.ejs). */
export const FORM_TOKEN_FIELD = '_form';

export type Submission =
  /** Go ahead; then `finish` with where the new thing is shown, or `release` when it was refused. */
  | { kind: 'first'; token: string | null; finish(result: string): Promise<void>; release(): Promise<void> }
  /** The same form was already submitted and made something: show it (`result`). */
  | { kind: 'repeat'; result: string }
  /** The token cannot be used: show the form again, with a fresh token, and this message. */
  | { kind: 'stale'; message: string };

/**
 * Create forms that make one thing however often they are sent: `issueFormToken` when the form
 * is rendered, `submitOnce` when it comes back. A request without a token (a script, an old
 * page) is let through as before.
 */
export function formOnce(store: FormTokenStore) {
  return {
    issueFormToken: (req: express.Request, purpose: string): Promise<string> => store.issue(purpose, req.user!.id),

    async submitOnce(req: express.Request, purpose: string): Promise<Submission> {
      const token = raw(req, FORM_TOKEN_FIELD);
      const noop = async () => undefined;
      if (token === '') return { kind: 'first', token: null, finish: noop, release: noop };
      const claim = await store.claim(token, purpose, req.user!.id);
      switch (claim.kind) {
        case 'claimed':
          return { kind: 'first', token, finish: (result) => store.finish(token, result), release: () => store.release(token) };
        case 'done':
          return { kind: 'repeat', result: claim.result };
        case 'busy':
          return { kind: 'stale', message: 'An earlier submission of this form is still being saved. Look at the list before sending it again.' };
        default:
          return { kind: 'stale', message: 'This form is too old to tell whether it was already sent. Look at the list, then send it again if the record is not there.' };
      }
    },
  };
}

export type FormOnce = ReturnType<typeof formOnce>;
