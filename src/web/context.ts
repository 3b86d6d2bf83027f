import type { Services } from '../app';
import type { EmulatorState } from '../emulator/emulator';
import type { CycleCounts } from '../sync/poll-cycle';
import type { SchedulerLiveness } from '../sync/scheduler';
import type { LoginLimiter } from '../store/login-limits';
import type { FormOnce } from './middleware/form-once';
import type { Sessions } from './middleware/session';

/** The parts of the scheduler the pages use: "Run now", the next run, and noticing changes at once. */
export interface SchedulerControl {
  runNow(integrationId: number): Promise<CycleCounts>;
  nextRun(integrationId: number): Date | null;
  refresh(): Promise<void>;
  /** For /healthz; absent when no scheduler runs in this process. */
  liveness?(): SchedulerLiveness;
}

/** What every route module is handed by the web app's composition. */
export interface WebContext {
  services: Services;
  sessions: Sessions;
  scheduler: SchedulerControl;
  /** The emulator state behind /sandbox/x, when this server hosts the sandbox. */
  sandbox: EmulatorState | null;
  loginLimiter: LoginLimiter;
  /** One-time tokens that make a create form create once. */
  forms: FormOnce;
  /** Checks a password at sign-in (tests count the checks). */
  checkPassword: (password: string, hash: string) => Promise<boolean>;
}
