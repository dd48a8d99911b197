// CPU time per lookup, read from /proc: the API process (and its cluster workers), the PostgreSQL backends
// of the benchmark database, and the load generator. Requests per second swing ±40% when other work shares
// this 2-core box; CPU microseconds per lookup move far less, so variants are compared on both.
// Processes are sampled every 200 ms and the last value seen counts, so a backend that exits when pgbench
// ends loses at most its last 200 ms (~2% of a 10 s run).
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ = 100 on Linux

interface Proc {
  pid: number;
  ppid: number;
  ticks: number;
  title: string;
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\u0000', ' ').trim();
    return { pid, ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]), title };
  } catch {
    return undefined; // exited between readdir and read
  }
}

function allProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Pid `root` and every process below it. */
export function treeOf(root: number): (p: Proc, all: Proc[]) => boolean {
  return (p, all) => {
    for (let cur: Proc | undefined = p; cur; cur = all.find((x) => x.pid === cur!.ppid)) {
      if (cur.pid === root) return true;
      if (cur.ppid <= 1) return false;
    }
    return false;
  };
}

/** PostgreSQL backends connected to `database` (title "postgres: [cluster: ]user database host ..."). */
export function backendsOf(database: string): (p: Proc) => boolean {
  const re = new RegExp(`^postgres: (\\S+: )?\\S+ ${database} `);
  return (p) => re.test(p.title);
}

/** Samples the CPU time of the processes `select` picks; stop() gives milliseconds used since start(). */
export class CpuSampler {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly select: (p: Proc, all: Proc[]) => boolean) {}

  private sample(initial: boolean): void {
    const all = allProcs();
    for (const p of all) {
      if (!this.select(p, all)) continue;
      if (!this.first.has(p.pid)) this.first.set(p.pid, initial ? p.ticks : 0);
      this.last.set(p.pid, p.ticks);
    }
  }

  start(): this {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 200);
    return this;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample(false);
    let ticks = 0;
    for (const [pid, t] of this.last) ticks += t - (this.first.get(pid) ?? 0);
    return ticks * TICK_MS;
  }
}
