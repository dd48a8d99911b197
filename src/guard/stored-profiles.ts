// batchcast.run_profiles, run_comparisons and gate_verdicts (sql/004_guardrails.sql): written once per run,
// never changed (a generation never changes after it is written), read by compare and report.
import type pg from 'pg';
import type { RunProfiles } from './compare-runs.ts';
import type { Comparison, GateVerdict, InputProfile, OutputProfile } from './types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** The published generation a run is compared with, and its date. */
export interface Reference {
  runId: number;
  date: string;
}

/**
 * The generation a run of (job, date) would replace: the one published for that date (a rerun), else the
 * job's latest published date before it. Null on a first run.
 */
export async function findReference(db: Queryable, job: string, date: string): Promise<Reference | null> {
  const { rows } = await db.query<{ run_id: string; date: string }>(
    `select run_id, prediction_date::text as date from batchcast.published
      where job = $1 and prediction_date <= $2 order by prediction_date desc limit 1`,
    [job, date],
  );
  return rows[0] ? { runId: Number(rows[0].run_id), date: rows[0].date } : null;
}

export async function saveProfiles(db: Queryable, runId: number, inputs: InputProfile, outputs: OutputProfile): Promise<void> {
  await db.query(
    `insert into batchcast.run_profiles (run_id, inputs, outputs) values ($1, $2, $3)
     on conflict (run_id) do update set inputs = excluded.inputs, outputs = excluded.outputs`,
    [runId, JSON.stringify(inputs), JSON.stringify(outputs)],
  );
}

export async function loadProfiles(db: Queryable, runId: number): Promise<RunProfiles | null> {
  const { rows } = await db.query<{ inputs: InputProfile; outputs: OutputProfile }>('select inputs, outputs from batchcast.run_profiles where run_id = $1', [runId]);
  return rows[0] ? { runId, inputs: rows[0].inputs, outputs: rows[0].outputs } : null;
}

export async function saveComparison(db: Queryable, c: Comparison): Promise<void> {
  await db.query(
    `insert into batchcast.run_comparisons (run_id, reference_run_id, comparison) values ($1, $2, $3)
     on conflict (run_id, reference_run_id) do update set comparison = excluded.comparison, created_at = now()`,
    [c.runId, c.referenceRunId, JSON.stringify(c)],
  );
}

/** One statement for all verdicts of a run. */
export async function saveVerdicts(db: Queryable, runId: number, verdicts: GateVerdict[]): Promise<void> {
  if (!verdicts.length) return;
  await db.query(
    `insert into batchcast.gate_verdicts (run_id, gate, kind, value, threshold, passed)
     select $1, * from unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::bool[])
     on conflict (run_id, gate) do update set kind = excluded.kind, value = excluded.value, threshold = excluded.threshold, passed = excluded.passed`,
    [runId, verdicts.map((v) => v.gate), verdicts.map((v) => v.kind), verdicts.map((v) => v.value), verdicts.map((v) => v.threshold), verdicts.map((v) => v.passed)],
  );
}
