// Step 3 of a run: COPY the encoded rows (copy-binary.ts) into the run's own table (run-tables.ts), or into
// a shard's table, with backpressure, and with a stall timeout for a silently cut connection.
import type { Writable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { InfraError } from '../errors.ts';
import { COPY_HEADER, COPY_TRAILER } from './copy-binary.ts';
import { runTable } from './tables.ts';

/**
 * A socket error while rows stream (EPIPE, ECONNRESET) arrives before, or instead of, the server's own
 * words when the backend is terminated or the network drops: say that the connection was lost, and where.
 */
function copyError(err: Error, table: string): Error {
  const code = (err as { code?: string }).code;
  if (code !== 'EPIPE' && code !== 'ECONNRESET') return err;
  return new InfraError(`COPY into ${table}: the connection to PostgreSQL was lost (${err.message})`, { cause: err });
}

/** One COPY (binary) into the run table. write() honours backpressure; finish() returns the row count. */
export class CopyWriter {
  private failed: Error | undefined;
  private readonly done: Promise<number>;

  private constructor(
    private readonly stream: Writable & { rowCount?: number },
    private readonly stallMs: number,
    table: string,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      stream.on('error', (err) => {
        this.failed = copyError(err, table);
        reject(this.failed);
      });
      stream.on('finish', () => resolve(stream.rowCount ?? 0));
    });
    this.done.catch(() => {}); // observed through write()/finish(); never an unhandled rejection
  }

  /** into the run's table, or into `table` (a shard's table, shard-tables.ts) */
  static open(client: pg.ClientBase, runId: number, stallMs: number, table = runTable(runId)): CopyWriter {
    const stream = client.query(copyFrom(`copy ${table} (user_id, item_idx, scores) from stdin with (format binary)`));
    const w = new CopyWriter(stream, stallMs, table);
    stream.write(COPY_HEADER);
    return w;
  }

  async write(buf: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.stream.write(buf)) {
      await this.withStallTimeout(
        new Promise<void>((resolve, reject) => {
          const onDrain = () => {
            this.stream.off('error', onError);
            resolve();
          };
          const onError = (err: Error) => {
            this.stream.off('drain', onDrain);
            reject(this.failed ?? err);
          };
          this.stream.once('drain', onDrain);
          this.stream.once('error', onError);
        }),
      );
    }
  }

  async finish(): Promise<number> {
    if (this.failed) throw this.failed;
    this.stream.end(COPY_TRAILER);
    return this.withStallTimeout(this.done);
  }

  /** A silently cut connection never drains and never errors: give up after stallMs without progress. */
  private withStallTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new InfraError(
          `COPY stall timeout fired (config copyStallTimeoutMs = ${this.stallMs} ms): the server accepted no data; the connection may be half-open`,
        );
        this.abort(err);
        reject(err);
      }, this.stallMs);
    });
    return Promise.race([p, stalled]).finally(() => clearTimeout(timer));
  }

  /** Stops the COPY; the server rolls it back. */
  abort(reason: Error): void {
    if (!this.stream.destroyed) this.stream.destroy(reason);
  }
}
