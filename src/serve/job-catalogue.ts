// The jobs the API knows: every valid file in jobs/ (the demo's job only while there is none), read at start and re-read every few seconds, so a
// request never touches the file system (fuzzed job names cost a Map lookup, not a stat).
import { describeError } from '../errors.ts';
import { type JobDefinition, loadJob, projectJobs } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';

export class JobCatalogue {
  private jobs = new Map<string, JobDefinition>();
  private problems = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly jobsDir: string,
    private readonly root: string,
    private readonly log: Logger,
  ) {
    this.reload();
  }

  /** Re-reads jobs/ every `ms` (by default a new job file is served within 10 s; a reload is one listing and a few small files). */
  watch(ms = 10_000): this {
    this.timer = setInterval(() => this.reload(), ms);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Called after a reload that changed the jobs served (one added or removed). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  get(name: string): JobDefinition | undefined {
    return this.jobs.get(name);
  }

  names(): string[] {
    return [...this.jobs.keys()];
  }

  reload(): void {
    const next = new Map<string, JobDefinition>();
    const problems = new Map<string, string>();
    let names: string[] = [];
    try {
      names = projectJobs(this.jobsDir);
    } catch (err) {
      this.log.warn(`cannot list job files in ${this.jobsDir}: ${describeError(err)}; keeping the jobs known so far`);
      return;
    }
    for (const name of names) {
      try {
        next.set(name, loadJob(this.jobsDir, name, this.root));
      } catch (err) {
        const why = describeError(err);
        problems.set(name, why);
        // A file caught half-written keeps its last good definition; said once per change, not every reload.
        const previous = this.jobs.get(name);
        if (previous) next.set(name, previous);
        if (this.problems.get(name) !== why) {
          this.log.warn(
            `job file for ${name} is not valid: ${why}; ${previous ? 'still serving its last valid definition' : 'the job is not served'}`,
          );
        }
      }
    }
    const changed = next.size !== this.jobs.size || [...next.keys()].some((name) => !this.jobs.has(name));
    this.jobs = next;
    this.problems = problems;
    if (changed) for (const fn of this.listeners) fn();
  }
}
