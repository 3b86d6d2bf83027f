import os from 'node:os';
import { Daemon } from './harness';

export interface ScenarioResult {
  id: number;
  title: string;
  /** Everything measured, for --json and the details. */
  values: Record<string, unknown>;
  target: string | null;
  /** null where the issue sets no target. */
  met: boolean | null;
  /** The measured figure in a few words, for the summary table. */
  figure: string;
  /** How it was measured, in a sentence or two. */
  method: string;
}

export interface Machine {
  cores: number;
  cpu: string;
  memory_gb: number;
  node: string;
  platform: string;
  daemon_runs: string;
  /** 1-minute load averages when the run started and ended: other work on the machine skews times. */
  load_at_start: number;
  load_at_end?: number;
}

export function describeMachine(): Machine {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memory_gb: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    daemon_runs: Daemon.runs,
    load_at_start: Number(os.loadavg()[0].toFixed(2)),
  };
}

const verdict = (met: boolean | null) => (met === null ? '(no target)' : met ? 'yes' : '**no**');

export function renderMarkdown(machine: Machine, mode: string, runs: number, scenarios: ScenarioResult[], totalSeconds: number): string {
  const lines = [
    '# Performance',
    '',
    `Written by \`npm run bench${mode === 'quick' ? ' -- --quick' : ''}\` (${mode} mode, ${Math.round(totalSeconds)} s) on ${new Date().toISOString().slice(0, 10)}.`,
    'Each figure is measured side by side in the same run, against the X API emulator running in its own',
    `process with no added latency. Where a scenario is repeated (${runs} runs),`,
    'the median is shown with the spread (smallest–largest), and every run in the details.',
    '',
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memory_gb} GB, Node ${machine.node}, ${machine.platform}; `
      + `the daemon ran ${machine.daemon_runs}. Load average ${machine.load_at_start} at the start and ${machine.load_at_end ?? '?'} at the end `
      + `(above ${machine.cores} means other work was competing for the cores).`,
    '',
    '| # | scenario | measured | target | met |',
    '|---|---|---|---|---|',
    ...scenarios.map((s) => `| ${s.id} | ${s.title} | ${s.figure} | ${s.target ?? '—'} | ${verdict(s.met)} |`),
    '',
    '## Details',
    '',
  ];
  for (const s of scenarios) {
    lines.push(`### ${s.id}. ${s.title}`, '', s.method, '', '```json', JSON.stringify(s.values, null, 2), '```', '');
  }
  return lines.join('\n');
}

export function renderJson(machine: Machine, mode: string, runs: number, scenarios: ScenarioResult[]): string {
  return JSON.stringify({
    machine,
    mode,
    runs,
    scenarios: scenarios.map((s) => ({ id: s.id, title: s.title, values: s.values, target: s.target, met: s.met })),
  });
}
