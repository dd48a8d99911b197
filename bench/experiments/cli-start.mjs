#!/usr/bin/env node
// How long `batchcast --help` takes, start to exit: `node bench/experiments/cli-start.mjs [runs] [other-checkout ...]`.
// Runs each command `runs` times (default 20), interleaved so a busy machine slows them alike, after one
// warm-up each, and prints the median and the 90th percentile. Another checkout's bin/batchcast.js can
// be compared against this one (e.g. /work/main, which compiles TypeScript at start through tsx).
// Besides wall time it reports CPU time (user + sys, from /usr/bin/time), which a busy machine inflates
// far less: on an idle machine wall time is close to it, since the start is mostly one busy thread.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.argv[2] ?? 20);
const checkouts = [here, ...process.argv.slice(3)];
const commands = [
  ...checkouts.map((dir) => ({ name: `${dir}: batchcast --help`, args: [path.join(dir, 'bin', 'batchcast.js'), '--help'] })),
  { name: 'node -e 0 (the floor)', args: ['-e', '0'] },
];
const wall = new Map(commands.map((c) => [c.name, []]));
const cpu = new Map(commands.map((c) => [c.name, []]));
const once = (c) => {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...c.args], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const [user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, cpuMs: (user + sys) * 1000 };
};
for (const c of commands) once(c);
for (let i = 0; i < runs; i++) {
  for (const c of commands) {
    const r = once(c);
    wall.get(c.name).push(r.ms);
    cpu.get(c.name).push(r.cpuMs);
  }
}
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
for (const c of commands) {
  const w = wall.get(c.name);
  console.log(
    `${c.name}: wall median ${pct(w, 0.5).toFixed(0)} ms (p90 ${pct(w, 0.9).toFixed(0)}), CPU median ${pct(cpu.get(c.name), 0.5).toFixed(0)} ms (${runs} runs)`,
  );
}
