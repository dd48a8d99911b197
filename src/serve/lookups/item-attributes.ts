// ?include=attributes: each item's items.attributes columns (name, km, ...), read once from the job's items
// file through DuckDB and then answered from memory. Re-read when the items file, its path or the attribute
// list changes (checked at most once a second per job: a stat, not a read).
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { describeError } from '../../errors.ts';
import type { JobDefinition } from '../../jobs/load-job.ts';
import type { Logger } from '../../log.ts';
import { withDuckDB } from '../../read/duckdb.ts';
import { type AttributeValue, readItemAttributes } from '../../read/read-items.ts';

/**
 * `version` names what was read (path, id column, attribute list, the file's mtime), the same in every process
 * that read the same file: the ETag of an answer with attributes carries it, so an edited items file is not
 * answered 304 from a client's cache.
 */
export interface Attributes extends Map<string, Record<string, AttributeValue>> {
  readonly version: string;
}

interface Entry {
  key: string;
  checkedAt: number;
  value: Promise<Attributes | Error> | Attributes | Error;
}

export class ItemAttributes {
  private readonly byJob = new Map<string, Entry>();

  constructor(private readonly log: Logger) {}

  /** Starts reading the attributes of these jobs, so the first request does not wait for DuckDB. */
  warm(jobs: JobDefinition[]): void {
    for (const job of jobs) if (job.items.attributes.length) void this.get(job);
  }

  /** The job's attributes by item id, or an Error naming the file and column when they cannot be read. */
  get(job: JobDefinition): Promise<Attributes | Error> | Attributes | Error {
    const now = Date.now();
    const e = this.byJob.get(job.name);
    if (e && now - e.checkedAt < 1_000) return e.value;
    let mtime = 0;
    try {
      mtime = statSync(job.items.path).mtimeMs;
    } catch {
      // missing file: readItemAttributes says so, naming it
    }
    const key = [job.items.path, job.items.idColumn, mtime, ...job.items.attributes].join('\u0000');
    if (e && e.key === key) {
      e.checkedAt = now;
      return e.value;
    }
    const reading = this.read(job, key);
    const entry: Entry = { key, checkedAt: now, value: reading };
    void reading.then((v) => {
      entry.value = v;
    });
    this.byJob.set(job.name, entry);
    return entry.value;
  }

  private async read(job: JobDefinition, key: string): Promise<Attributes | Error> {
    try {
      const read = await withDuckDB({ threads: 1 }, (conn) => readItemAttributes(conn, job));
      const map = Object.assign(read, { version: createHash('sha256').update(key).digest('base64url').slice(0, 12) });
      this.log.info(
        `job ${job.name}: ${job.items.attributes.join(', ')} of ${map.size} items read from ${job.items.path} for ?include=attributes`,
      );
      return map;
    } catch (err) {
      this.log.warn(`job ${job.name}: item attributes unavailable: ${describeError(err)}`);
      return err instanceof Error ? err : new Error(String(err));
    }
  }
}
