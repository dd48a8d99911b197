// The command line: every command, in the order `batchcast --help` lists them, each in its own file under
// commands/. A command only translates: flags become an options object for the same function the tests
// call, imported when the command runs (DuckDB, pg and ONNX Runtime take ~110 ms to load, and
// `batchcast --help` should not pay for them). Nothing outside src/cli/ imports from here.

import { describeError, ExitCode, exitCodeOf } from '../errors.ts';
import { Command, CommanderError } from './commander.ts';
import { backfillCommand } from './commands/backfill.ts';
import { compareCommand } from './commands/compare.ts';
import { dbCommand } from './commands/db.ts';
import { demoCommand } from './commands/demo.ts';
import { exportCommand } from './commands/export.ts';
import { generateCommand } from './commands/generate.ts';
import { initCommand } from './commands/init.ts';
import { installExtensionsCommand } from './commands/install-extensions.ts';
import { keysCommand } from './commands/keys.ts';
import { migrateCommand } from './commands/migrate.ts';
import { predictCommand } from './commands/predict.ts';
import { pruneCommand } from './commands/prune.ts';
import { publishCommand } from './commands/publish.ts';
import { reportCommand } from './commands/report.ts';
import { runsCommand } from './commands/runs.ts';
import { scheduleCommand } from './commands/schedule.ts';
import { serveCommand } from './commands/serve.ts';
import { sqlCommand } from './commands/sql.ts';

const COMMANDS = [
  predictCommand,
  compareCommand,
  demoCommand,
  generateCommand,
  migrateCommand,
  initCommand,
  sqlCommand,
  dbCommand,
  serveCommand,
  keysCommand,
  exportCommand,
  scheduleCommand,
  backfillCommand,
  runsCommand,
  publishCommand,
  pruneCommand,
  reportCommand,
  installExtensionsCommand,
];

export function buildProgram(): Command {
  const program = new Command('batchcast')
    .description('Batch predictions: Parquet features -> ONNX model -> top-K per user, published atomically in PostgreSQL')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const add of COMMANDS) add(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // a command that ends without throwing may still set a code (serve's cluster primary: 1 when its workers failed)
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; a usage error is bad input
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    process.stderr.write(`batchcast: ${describeError(err)}\n`);
    return exitCodeOf(err);
  }
}
