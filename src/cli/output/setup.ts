// Output of init, predict --dry-run, sql and db: results on stdout (a table, CSV or JSON), nothing else there.
import path from 'node:path';
import type { EmbeddedStatus } from '../../db/keep-embedded.ts';
import type { InitResult } from '../../init/init-job.ts';
import type { DryRunResult } from '../../run/dry-run.ts';
import { cellText, type SqlResult, toCsv, toJsonRows } from '../../store/run-sql.ts';
import { EXAMPLE_QUERY } from '../../store/tables.ts';
import { formatTable, type OutputFlags } from './text.ts';

type SetupFlags = OutputFlags & { csv?: boolean };

const write = (lines: string[]) => process.stdout.write(lines.join('\n') + '\n');

export function printInit(r: InitResult, flags: SetupFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify({ file: r.file, job: r.job.name, notes: r.notes, latestDate: r.latestDate }) + '\n');
    return;
  }
  if (flags.quiet) return;
  write([
    ...r.notes,
    '',
    `wrote ${path.relative(process.cwd(), r.file).startsWith('..') ? r.file : path.relative(process.cwd(), r.file)}. Check it on the newest date (nothing is published):`,
    `  npx batchcast predict --job ${r.job.name} --date ${r.latestDate} --dry-run`,
    'then run it:',
    `  npx batchcast predict --job ${r.job.name} --date ${r.latestDate}`,
  ]);
}

export function printDryRun(r: DryRunResult, flags: SetupFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\n');
    return;
  }
  if (flags.quiet) return;
  write([
    `dry run of job ${r.job} for ${r.date}: every check passed; nothing was written`,
    `  job file   ${r.jobFile}`,
    `  partition  ${r.files.length} file(s), ${r.rows} users (${r.idKind === 'int' ? 'integer' : 'text'} ids)`,
    `  items      ${r.items}`,
    `  model      ${r.modelVersion}: loaded, input and outputs match the job`,
    r.examples.count
      ? `  examples   ${r.examples.count} reproduced (output ${r.examples.outputs.join(', ')}; ${r.examples.tolerance})`
      : '  examples   none in the job: its column order is not checked against known outputs (docs/jobs.md, "Examples")',
    ...(r.examples.note ? [`  note       ${r.examples.note}`] : []),
    `  sample     ${r.sample.scored} of the first ${r.sample.rows} users scored in ${r.sample.ms.toFixed(0)} ms${r.sample.bad ? `, ${r.sample.bad} bad row(s) skipped` : ''}`,
    ...(r.expectations ? [`  expected   ${r.expectations} expectation(s) kept by the date's files`] : []),
    `  database   ${r.database}: reachable, schema up to date`,
    `run it: npx batchcast predict --job ${r.job} --date ${r.date}`,
  ]);
}

export function printSql(r: SqlResult, flags: SetupFlags): void {
  if (flags.json) process.stdout.write(JSON.stringify(toJsonRows(r)) + '\n');
  else if (flags.csv) process.stdout.write(toCsv(r));
  else if (r.columns.length === 0) process.stdout.write(`${r.command}${r.rowCount ? ` ${r.rowCount}` : ''}\n`);
  else
    process.stdout.write(
      formatTable(
        r.columns,
        r.rows.map((row) => row.map(cellText)),
      ) + `(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})\n`,
    );
}

export function printDbStatus(what: 'start' | 'stop' | 'status', s: EmbeddedStatus & { started?: boolean }, flags: SetupFlags): void {
  if (flags.json) {
    const { url: _url, ...safe } = s; // the password stays out of logs; `db url` prints it when asked
    process.stdout.write(JSON.stringify(safe) + '\n');
    return;
  }
  if (!s.running) {
    write([
      what === 'stop'
        ? `stopped the embedded PostgreSQL (data ${s.dataDir})`
        : `the embedded PostgreSQL is not running (data ${s.dataDir}); start it with: npx batchcast db start`,
    ]);
    return;
  }
  const head = what === 'start' && s.started ? 'started the embedded PostgreSQL' : 'the embedded PostgreSQL is running';
  write([
    `${head} on 127.0.0.1:${s.port} (pid ${s.pid}, data ${s.dataDir})`,
    s.holderPid
      ? `  it keeps running until: npx batchcast db stop   (log: ${s.log})`
      : '  started by a batchcast command that is still running; it stops when that command exits',
    '  connect: psql "$(npx batchcast db url)"',
    `  query:   npx batchcast sql "${EXAMPLE_QUERY}"`,
  ]);
}
