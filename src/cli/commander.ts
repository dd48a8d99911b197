// commander, loaded through its CommonJS entry: its ES module wrapper made `batchcast --help` import it in
// ~23 ms against ~14 ms for require (medians of 5, this machine), on a budget of ~30 ms for all of our code.
// Every file of src/cli/ takes commander from here.
import { createRequire } from 'node:module';
import type * as Commander from 'commander';

const commander: typeof Commander = createRequire(import.meta.url)('commander');

export const { Command, CommanderError, Option } = commander;
export type Command = Commander.Command;
export type CommanderError = Commander.CommanderError;
export type Option = Commander.Option;
