// The job's expectations on a date's inputs, in the manner of dbt tests and Great Expectations: absolute
// checks (not_null, between, accepted_values, max_null_share per column; row_count per date) that need no
// reference, so they judge a job's first day as well as its hundredth. Each becomes a verdict of kind
// 'expectation'; a broken one holds the day like any gate. One DuckDB aggregate pass over the date's files
// (every row, no sample: a single NULL must be seen), only when the job has expectations.
import type { DuckDBConnection } from '@duckdb/node-api';
import { BadInputError } from '../errors.ts';
import type { Bounds, ColumnExpectations, JobDefinition } from '../jobs/load-job.ts';
import { parquetSource, sqlIdent, sqlString } from '../read/duckdb.ts';
import type { GateResult } from './gates.ts';

const show = (x: unknown) =>
  typeof x === 'number' ? String(Number(x.toPrecision(6))) : typeof x === 'string' ? JSON.stringify(x) : String(x);
const range = (b: Bounds) => `[${b.min ?? '-inf'}, ${b.max ?? 'inf'}]`;
const rows = (n: number) => `${n} row${n === 1 ? '' : 's'}`;

/** The SQL literal of an accepted value; strings compared as text, numbers as numbers. */
const literal = (v: string | number) => (typeof v === 'number' ? String(v) : sqlString(v));

/**
 * A condition true for a non-NULL value outside the bounds. NaN is outside: DuckDB orders it above every
 * number, so `NaN >= min` alone is true; isnan catches it (TRY_CAST: NULL, so false, for a non-number column).
 */
function outside(c: string, b: Bounds): string {
  const inside = [b.min !== undefined ? `${c} >= ${b.min}` : '', b.max !== undefined ? `${c} <= ${b.max}` : ''].filter(Boolean);
  return `(${c} IS NOT NULL AND (NOT (${inside.join(' AND ')}) OR coalesce(isnan(TRY_CAST(${c} AS DOUBLE)), false)))`;
}

/** A condition true for a non-NULL value not in the list: numbers compared as numbers, anything else as text. */
function notAccepted(c: string, values: (string | number)[]): string {
  const numeric = values.every((v) => typeof v === 'number');
  const col = numeric ? c : `${c}::VARCHAR`;
  const list = values.map((v) => (numeric ? literal(v) : sqlString(String(v)))).join(', ');
  return `(${c} IS NOT NULL AND ${col} NOT IN (${list}))`;
}

/** The aggregates one column's expectations need, in a fixed order that `judge` reads back. */
function selects(e: ColumnExpectations): string[] {
  const c = sqlIdent(e.column);
  const out = [`count_if(${c} IS NULL)`];
  if (e.between) out.push(`count_if(${outside(c, e.between)})`, `min(${c})`, `max(${c})`);
  if (e.acceptedValues)
    out.push(`count_if(${notAccepted(c, e.acceptedValues)})`, `min(CASE WHEN ${notAccepted(c, e.acceptedValues)} THEN ${c} END)`);
  return out;
}

/** The verdicts of one column's expectations from its aggregates (`at` is where they start in the row). */
function judge(e: ColumnExpectations, row: unknown[], at: number, total: number): { verdicts: GateResult[]; next: number } {
  const on = (name: string) => `${name} on column ${e.column}`;
  const verdicts: GateResult[] = [];
  const nulls = Number(row[at++]);
  const push = (name: string, value: number, threshold: number, detail: string) =>
    verdicts.push({ gate: `${name}(${e.column})`, kind: 'expectation', value, threshold, passed: value <= threshold, detail });
  if (e.notNull) push('not_null', nulls, 0, `${on('not_null')}: ${rows(nulls)} NULL of ${total}, bound 0`);
  if (e.maxNullShare !== undefined) {
    const share = total ? nulls / total : 0;
    push(
      'max_null_share',
      share,
      e.maxNullShare,
      `${on('max_null_share')}: NULL share ${show(share)} (${nulls} of ${total}), bound ${e.maxNullShare}`,
    );
  }
  if (e.between) {
    const [n, min, max] = [Number(row[at]), row[at + 1], row[at + 2]];
    at += 3;
    push(
      'between',
      n,
      0,
      `${on('between')}: ${rows(n)} of ${total} outside ${range(e.between)} (observed min ${show(min)}, max ${show(max)}), bound 0 rows`,
    );
  }
  if (e.acceptedValues) {
    const [n, example] = [Number(row[at]), row[at + 1]];
    at += 2;
    const list = e.acceptedValues.map(show).join(', ');
    push(
      'accepted_values',
      n,
      0,
      `${on('accepted_values')}: ${rows(n)} of ${total} not in [${list}]${n ? ` (e.g. ${show(example)})` : ''}, bound 0 rows`,
    );
  }
  return { verdicts, next: at };
}

/** row_count: the partition's rows within the job's bounds; the threshold is the bound it broke (else the min, else the max). */
function rowCount(b: Bounds, n: number): GateResult {
  const low = b.min !== undefined && n < b.min;
  const high = b.max !== undefined && n > b.max;
  const threshold = low ? b.min! : high ? b.max! : (b.min ?? b.max!);
  return {
    gate: 'row_count',
    kind: 'expectation',
    value: n,
    threshold,
    passed: !low && !high,
    detail: `row_count: ${rows(n)} in the partition, bounds ${range(b)}`,
  };
}

/**
 * Every expectation of the job over the date's files, as verdicts (expectations first in the job's order).
 * A column the files do not have is the job's mistake, not the day's: that fails the run, naming the column.
 */
export async function checkExpectations(conn: DuckDBConnection, job: JobDefinition, date: string, files: string[]): Promise<GateResult[]> {
  const ex = job.expectations;
  if (!ex.rowCount && !ex.columns.length) return [];
  const source = parquetSource(files);
  const where = `job ${job.name}, date ${date}`;
  if (ex.columns.length) {
    const names = (await conn.runAndReadAll(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${source})`))
      .getRows()
      .map((r) => String(r[0]));
    const missing = ex.columns.find((e) => !names.includes(e.column));
    if (missing)
      throw new BadInputError(
        `${where}: expectations.columns names column "${missing.column}", which the date's files do not have (they have ${names.join(', ')}); fix the job file ${job.file}`,
      );
  }
  const sql = ['count(*)', ...ex.columns.flatMap(selects)];
  let row: unknown[];
  try {
    row = (await conn.runAndReadAll(`SELECT ${sql.join(', ')} FROM ${source}`)).getRows()[0];
  } catch (err) {
    throw new BadInputError(
      `${where}: the job's expectations could not be checked (${(err as Error).message.split('\n')[0]}); check that each between or accepted_values suits its column's type in ${job.file}`,
      { cause: err },
    );
  }
  const total = Number(row[0]);
  const out: GateResult[] = ex.rowCount ? [rowCount(ex.rowCount, total)] : [];
  let at = 1;
  for (const e of ex.columns) {
    const { verdicts, next } = judge(e, row, at, total);
    out.push(...verdicts);
    at = next;
  }
  return out;
}
