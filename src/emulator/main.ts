import { startEmulator } from './emulator';

/**
 * `node --import tsx src/emulator/main.ts [--port N] [--host H] [--clock ISO]`: prints {"url": ...}
 * once listening. `--clock` starts the emulator's clock at that time (it runs on from there).
 */
function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  if (index >= 0) return process.argv[index + 1];
  const inline = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
}

async function main(): Promise<void> {
  const portText = option('port') ?? process.env.PORT ?? '0';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${portText}`);
  const emulator = await startEmulator({ port, host: option('host') ?? process.env.HOST, startAt: option('clock') });
  process.stdout.write(JSON.stringify({ url: emulator.url }) + '\n');
  const stop = () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`emulator failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
