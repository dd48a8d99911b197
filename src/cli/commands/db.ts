// `batchcast db start|stop|status|url`: the embedded PostgreSQL kept up between commands, for psql, a GUI
// or `batchcast serve` (src/db/keep-embedded.ts).

import { BadInputError } from '../../errors.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions } from '../context.ts';

export function dbCommand(program: Command): void {
  const db = program.command('db').description('the embedded PostgreSQL: keep it running between commands');
  globalOptions(db.command('start'))
    .description('start the embedded PostgreSQL and leave it running after this command exits')
    .action(async (opts: GlobalFlags) => {
      const { printDbStatus } = await import('../output/setup.ts');
      const ctx = await context(opts);
      if (ctx.config.databaseUrl)
        ctx.log.warn('DATABASE_URL is set, so the other commands use that server, not the embedded one started here');
      const { startDetached } = await import('../../db/keep-embedded.ts');
      printDbStatus('start', await startDetached(ctx.config), opts);
    });
  globalOptions(db.command('stop'))
    .description('stop the embedded PostgreSQL that `db start` started')
    .action(async (opts: GlobalFlags) => {
      const { printDbStatus } = await import('../output/setup.ts');
      const { stopDetached } = await import('../../db/keep-embedded.ts');
      const r = await stopDetached((await context(opts)).config);
      printDbStatus(r.stopped ? 'stop' : 'status', r.stopped ? { ...r.status, running: false } : r.status, opts);
    });
  globalOptions(db.command('status'))
    .description('whether the embedded PostgreSQL is running, on which port, with which data directory')
    .action(async (opts: GlobalFlags) => {
      const { printDbStatus } = await import('../output/setup.ts');
      const { embeddedStatus } = await import('../../db/keep-embedded.ts');
      printDbStatus('status', embeddedStatus((await context(opts)).config), opts);
    });
  globalOptions(db.command('url'))
    .description('print the running embedded server\'s connection string: psql "$(npx batchcast db url)"')
    .action(async (opts: GlobalFlags) => {
      const { embeddedStatus } = await import('../../db/keep-embedded.ts');
      const s = embeddedStatus((await context(opts)).config);
      if (!s.url)
        throw new BadInputError(`the embedded PostgreSQL is not running (data ${s.dataDir}); start it with \`npx batchcast db start\``);
      process.stdout.write(`${s.url}\n`);
    });
  globalOptions(db.command('hold', { hidden: true }))
    .description('(used by db start) run the embedded PostgreSQL until SIGTERM')
    .action(async (opts: GlobalFlags) => {
      const ctx = await context(opts);
      const { holdEmbedded } = await import('../../db/keep-embedded.ts');
      await holdEmbedded(ctx.config, (m) => ctx.log.info(m));
    });
}
