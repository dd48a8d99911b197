// A real Prometheus Pushgateway for tests: Debian's prometheus-pushgateway (installed by .ci/run) on a free
// loopback port, no persistence file, stopped by its pid. Plus a reader for the Prometheus text format.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort } from '../src/db/embedded.ts';

export const pushgatewayPath = process.env.BATCHCAST_PUSHGATEWAY_BIN ?? '/usr/bin/prometheus-pushgateway';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition -> samples (comments skipped; label values unescaped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The samples of `name` whose labels include `labels`. */
export function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

export interface Pushgateway {
  url: string;
  scrape(): Promise<Sample[]>;
  stop(): Promise<void>;
}

export async function startPushgateway(): Promise<Pushgateway> {
  if (!existsSync(pushgatewayPath)) {
    throw new Error(
      `no Pushgateway at ${pushgatewayPath}: install it (apt-get install -y prometheus-pushgateway; .ci/run does) or set BATCHCAST_PUSHGATEWAY_BIN`,
    );
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    pushgatewayPath,
    [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || i > 100) {
      child.kill('SIGKILL');
      throw new Error(`the Pushgateway did not start on ${url}: ${stderr.slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async scrape() {
      const r = await fetch(`${url}/metrics`);
      return parseMetrics(await r.text());
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
