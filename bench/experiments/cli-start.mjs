#!/usr/bin/env node
// How long `batchcast --help` takes, start to exit, as the README types it (bin/batchcast) and through npx:
// `node bench/experiments/cli-start.mjs [runs] [other-checkout ...]`.
// Runs each command `runs` times (default 20), interleaved so a busy machine slows them alike, after one
// warm-up each, and prints the median and the 90th percentile of the wall time, and the median CPU time
// (user + sys, from /usr/bin/time, which a busy machine inflates far less). Other checkouts' bin/batchcast.js
// can be compared against this one. `node -e 0` is the floor; when NODE_EXTRA_CA_CERTS is set (Node then
// reads those certificates at every start, before any of our code), the floor is also measured without it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.argv[2] ?? 20);
const others = process.argv.slice(3);
const withoutCerts = { ...process.env };
delete withoutCerts.NODE_EXTRA_CA_CERTS;
const commands = [
  { name: 'bin/batchcast --help (the README)', file: path.join(here, 'bin', 'batchcast'), args: ['--help'] },
  { name: 'npx batchcast --help', file: 'npx', args: ['batchcast', '--help'] },
  ...others.map((dir) => ({
    name: `${dir}: batchcast --help`,
    file: process.execPath,
    args: [path.join(dir, 'bin', 'batchcast.js'), '--help'],
  })),
  { name: 'node -e 0 (the floor)', file: process.execPath, args: ['-e', '0'] },
  ...(process.env.NODE_EXTRA_CA_CERTS
    ? [
        {
          name: 'bin/batchcast --help, without NODE_EXTRA_CA_CERTS',
          file: path.join(here, 'bin', 'batchcast'),
          args: ['--help'],
          env: withoutCerts,
        },
        { name: 'node -e 0, without NODE_EXTRA_CA_CERTS', file: process.execPath, args: ['-e', '0'], env: withoutCerts },
      ]
    : []),
];
const wall = new Map(commands.map((c) => [c.name, []]));
const cpu = new Map(commands.map((c) => [c.name, []]));
const once = (c) => {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', c.file, ...c.args], {
    cwd: here,
    encoding: 'utf8',
    env: c.env ?? process.env,
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
