import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// Run from source (tests, chaos, bench): main.ts through tsx, resolved from the project so the
// caller's working directory does not matter.
const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'src', 'emulator', 'main.ts');
const TSX_LOADER = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

export interface EmulatorProcess {
  url: string;
  child: ChildProcess;
  /** Stops it (SIGTERM) and waits for the exit; nothing when it already ended. */
  close(): Promise<void>;
}

/**
 * The emulator in a process of its own (as X is another machine for the product): the one way
 * the crash, chaos and benchmark runs start it. `clock` is the `--clock` start option; `env` is
 * the child's environment (default this process's, so a faked clock carries over).
 */
export async function startEmulatorProcess(options: { clock?: string; env?: NodeJS.ProcessEnv } = {}): Promise<EmulatorProcess> {
  const args = ['--import', TSX_LOADER, MAIN, '--port', '0', ...(options.clock ? ['--clock', options.clock] : [])];
  const child = spawn(process.execPath, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      try {
        resolve((JSON.parse(out.slice(0, newline)) as { url: string }).url);
      } catch {
        reject(new Error(`the emulator printed '${out.slice(0, newline)}' instead of its URL`));
      }
    };
    const onExit = (code: number | null) => reject(new Error(`the emulator exited with ${code} before it listened`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  child.stdout!.resume();
  return {
    url,
    child,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
