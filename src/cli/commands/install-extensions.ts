// `batchcast install-extensions`: DuckDB extensions fetched at image build time, so runs never download.

import { BadInputError } from '../../errors.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions } from '../context.ts';

export function installExtensionsCommand(program: Command): void {
  globalOptions(program.command('install-extensions'))
    .description(
      'download config duckdb.extensions into duckdb.extensionDirectory for this DuckDB version (image build time: needs the network)',
    )
    .action(async (opts: GlobalFlags) => {
      const { config, log } = await context(opts);
      if (!config.duckdb.extensionDirectory)
        throw new BadInputError(
          'install-extensions needs config duckdb.extensionDirectory (BATCHCAST_DUCKDB_EXTENSION_DIRECTORY), the directory runs will load from',
        );
      const { installExtensions } = await import('../../read/duckdb.ts');
      const installed = await installExtensions(config.duckdb.extensionDirectory, config.duckdb.extensions);
      log.info(
        `DuckDB extensions installed into ${config.duckdb.extensionDirectory}: ${installed.join(', ') || 'none needed'}; all of ${config.duckdb.extensions.join(', ') || '(none configured)'} load`,
      );
    });
}
