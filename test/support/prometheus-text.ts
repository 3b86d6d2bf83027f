/**
 * A small reader of Prometheus's text exposition format (version 0.0.4): # HELP and # TYPE
 * lines, and samples `name{label="value",…} number`. It refuses what the format does not allow,
 * so a test that parses /metrics also checks that the output is well formed.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: "${text}" is not a number`);
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
    if (!match) throw new Error(`line ${line}: cannot read the labels at "${rest}"`);
    if (match[1] in labels) throw new Error(`line ${line}: label ${match[1]} appears twice`);
    labels[match[1]] = match[2].replace(/\\(["\\n])/g, (_all, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** The family a sample belongs to: a histogram's _bucket, _sum and _count samples belong to it. */
function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sampleName)) return families.get(sampleName);
  const base = sampleName.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(base);
  return family && (family.type === 'histogram' || family.type === 'summary') ? family : undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    const comment = /^#\s*(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(raw);
    if (comment) {
      const [, keyword, name, rest] = comment;
      if (!NAME.test(name)) throw new Error(`line ${line}: "${name}" is not a metric name`);
      const family = families.get(name) ?? { name, type: 'untyped' as const, help: '', samples: [] };
      if (keyword === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: "${rest}" is not a metric type`);
        if (family.samples.length > 0) throw new Error(`line ${line}: the TYPE of ${name} comes after its samples`);
        family.type = rest as Family['type'];
      } else {
        family.help = rest.replace(/\\(\\|n)/g, (_all, escaped: string) => (escaped === 'n' ? '\n' : '\\'));
      }
      families.set(name, family);
      return;
    }
    if (raw.startsWith('#')) return;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(raw);
    if (!sample) throw new Error(`line ${line}: "${raw}" is not a sample`);
    const [, name, labelText, valueText] = sample;
    const family = familyOf(name, families) ?? { name, type: 'untyped' as const, help: '', samples: [] };
    families.set(family.name, family);
    family.samples.push({ name, labels: parseLabels(labelText ?? '', line), value: parseValue(valueText, line) });
  });
  return families;
}

/** The value of the one sample with this name and exactly these labels (undefined when none). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = familyOf(name, families);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return family?.samples.find((sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted)?.value;
}
