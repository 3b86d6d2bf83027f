import type { Role } from '../store/users';

export interface SignedInUser {
  id: number;
  username: string;
  role: Role;
}

export interface Flash {
  kind: 'success' | 'warning' | 'error' | 'info';
  text: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The signed-in user (a session or an API token). */
      user?: SignedInUser;
      /** Hash of the session's token, when the request carries a valid session cookie. */
      sessionIdHash?: string;
    }
  }
}
