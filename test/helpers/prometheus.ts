// Real Prometheus tooling over exposition text: promtool's linter and the Python client's parser (Debian packages, see scripts/setup.sh).
import { spawnSync } from 'node:child_process';

/** `promtool check metrics`: exit code and its complaints (empty when the text is clean). */
export function promtoolCheck(text: string): { code: number; problems: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, problems: `${r.stdout}${r.stderr}`.trim() };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  /** null: NaN or an infinity (JSON has neither) */
  value: number | null;
}

export interface Family {
  /** the family name (the Python parser drops a counter's _total here; its samples keep it) */
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

// Debian's python3 (its prometheus_client), not a pyenv shim that may lack the module
const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = [{"name": f.name, "type": f.type, "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else None} for s in f.samples]}
       for f in text_string_to_metric_families(sys.stdin.read())]
json.dump(out, sys.stdout)
`;

/** The families prometheus_client's text parser reads from `text` (throws what it refuses). */
export function parseExposition(text: string): Family[] {
  const r = spawnSync('/usr/bin/python3', ['-c', PARSE], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`prometheus_client's parser refused the text: ${r.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(r.stdout) as Family[];
}

/** Sample values by name and labels: `name{a="x",b="y"}` (labels sorted) -> value. */
export function sampleMap(families: Family[]): Map<string, number | null> {
  const m = new Map<string, number | null>();
  for (const f of families)
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v}"`).join(',');
      m.set(labels ? `${s.name}{${labels}}` : s.name, s.value);
    }
  return m;
}
