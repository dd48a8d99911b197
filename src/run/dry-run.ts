// `batchcast predict --dry-run`: every check a run makes before its expensive part, plus one small batch
// scored by the real model, and nothing written to the database but the migrations. It uses the same
// checks as predict (findPartitionFiles, inspectPartition, readItems, modelInfo, InferPool.start), so a
// dry run that passes means the run gets past its checks. Exit 0 when all pass, 2 (bad input) otherwise.
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/load-config.ts';
import { parseDate } from '../dates.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import { checkExpectations } from '../guard/check-expectations.ts';
import { checkExamples, indistinctNote, TOLERANCE_TEXT } from '../infer/check-examples.ts';
import { InferPool } from '../infer/infer-pool.ts';
import { modelInfo } from '../infer/model-info.ts';
import { type JobDefinition, loadJob } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { findPartitionFiles, type IdKind, inspectPartition, readFeatures } from '../read/read-features.ts';
import { readItems } from '../read/read-items.ts';
import { migrate } from '../store/migrate.ts';

export interface DryRunOptions {
  job: string | JobDefinition;
  date: string;
  config: Config;
  db: Db;
  log: Logger;
  /** users scored from the start of the partition (default 256) */
  sampleRows?: number;
}

export interface DryRunResult {
  job: string;
  jobFile: string;
  date: string;
  files: string[];
  rows: number;
  idKind: IdKind;
  items: number;
  modelVersion: string;
  /** the job's model.examples the model reproduced (0: the job has none) */
  examples: { count: number; outputs: string[]; tolerance: string; note?: string };
  sample: { rows: number; scored: number; bad: number; ms: number };
  /** the job's expectations checked on the date's files (all kept: a broken one fails the dry run) */
  expectations: number;
  database: string;
}

export async function dryRun(o: DryRunOptions): Promise<DryRunResult> {
  const date = parseDate(o.date);
  const job = typeof o.job === 'string' ? loadJob(o.config.jobsDir, o.job, o.config.root) : o.job;
  const where = `job ${job.name}, date ${date}`;
  const log = o.log.child({ job: job.name, date, dryRun: true });
  await migrate(o.db.pool); // the database is reachable and its schema current; nothing else is written
  const model = await modelInfo(job);
  const examples = await checkExamples(job);
  return withDuckDB(
    { threads: 2, memoryLimit: o.config.duckdbMemoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb') },
    async (conn) => {
      const files = await findPartitionFiles(conn, job, date);
      const itemIds = await readItems(conn, job);
      if (model.items !== undefined && model.items !== itemIds.length) {
        throw new BadInputError(
          `job ${job.name}: the model card says the model scores ${model.items} items but the items file ${job.items.path} has ${itemIds.length}; use the items file the model was trained with`,
        );
      }
      const partition = await inspectPartition(conn, job, date, files);
      // the expectations a run would hold the day for: a dry run says so now (exit 2) instead
      const expectations = await checkExpectations(conn, job, date, files);
      const broken = expectations.filter((v) => !v.passed);
      if (broken.length)
        throw new BadInputError(
          `${where}: a run would be held: ${broken.map((v) => `expectation ${v.detail}`).join('; ')}; fix the export or the job's expectations`,
        );
      log.info(`partition ok: ${partition.rows} rows in ${files.length} file(s); loading the model`);
      // One worker with one thread: the model is loaded and probed exactly as a run does, at a tenth of the cost.
      const pool = await InferPool.start(job, { workers: 1, intraOpThreads: 1, itemIds });
      try {
        const sampleRows = Math.min(o.sampleRows ?? 256, partition.rows);
        const t = performance.now();
        let sample = { rows: 0, scored: 0, bad: 0, ms: 0 };
        for await (const chunk of readFeatures(conn, job, files, Math.max(1, sampleRows), partition.idKind)) {
          const scored = await pool.score(chunk.ids, chunk.features, chunk.rows);
          if (scored.bad.length && job.badRows.mode === 'reject') {
            const b = scored.bad[0];
            throw new BadInputError(
              `${where}: user ${b.userId}: ${b.reason} (${scored.bad.length} of the first ${chunk.rows} rows); fix the export, or set bad_rows.mode to "skip" in the job to skip such rows`,
            );
          }
          sample = { rows: chunk.rows, scored: scored.rows, bad: scored.bad.length, ms: performance.now() - t };
          break; // one batch is the point: the model runs on real rows
        }
        return {
          job: job.name,
          jobFile: job.file,
          date,
          files,
          rows: partition.rows,
          idKind: partition.idKind,
          items: itemIds.length,
          modelVersion: model.version,
          examples: {
            count: examples?.examples ?? 0,
            outputs: examples?.outputs ?? [],
            tolerance: TOLERANCE_TEXT,
            note: examples && indistinctNote(examples),
          },
          sample,
          expectations: expectations.length,
          database: o.db.where,
        };
      } finally {
        await pool.close();
      }
    },
  );
}
