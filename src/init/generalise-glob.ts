// An unquoted `--features exports/features/snapshot_date=*/*.parquet` reaches init as whatever the shell
// expanded it to: one file (one date on disk) or several (init then sees extra arguments). A job written
// with that one file's path works for that one day and fails the next, blaming the export. So a path that
// names one partition value (a folder `name=<date>`) is turned back into the pattern.
import path from 'node:path';

const GLOB = /[*?[\]{}]/;
const HIVE = /^([A-Za-z_][\w.-]*)=(.+)$/;
const DATE_VALUE = /^(\d{4}-\d{2}-\d{2}|\d{8})$/;

export interface Generalised {
  /** the glob to use */
  pattern: string;
  /** what was changed and why, for init's notes; undefined when the path was kept */
  note: string | undefined;
}

/**
 * `a/dt=2026-11-20/part-0.parquet` -> `a/dt=*\/*.parquet`, and `a/dt=2026-11-20/*.parquet` -> `a/dt=*\/*.parquet`
 * (a glob pinned to one date works for one day as well); a path without one dated partition folder is kept.
 */
export function generaliseFeaturesPath(p: string): Generalised {
  const parts = p.split('/');
  const dated = parts.map((s, i) => [i, s.match(HIVE)] as const).filter(([, m]) => m && DATE_VALUE.test(m[2]));
  if (dated.length !== 1) return { pattern: p, note: undefined };
  const [at, m] = dated[0];
  const out = [...parts];
  out[at] = `${m![1]}=*`;
  // the folder itself, or one file in it (every file of the date then), or a glob inside it (kept)
  const last = parts.at(-1)!;
  const isFolder = at === parts.length - 1;
  const pattern = (isFolder ? [...out, '*.parquet'] : [...out.slice(0, -1), GLOB.test(last) ? last : `*${path.extname(last)}`]).join('/');
  const what = GLOB.test(p)
    ? 'a glob pinned to one date'
    : `one ${isFolder ? 'folder' : 'file'} of one date: the shell expanded an unquoted glob?`;
  return {
    pattern,
    note: `features: --features ${p} is ${what} (${m![1]}=${m![2]}). The job uses the pattern ${pattern}, so that every date is found; quote the glob next time`,
  };
}

/** The message for arguments after --features' own: several paths when the shell expanded the glob into one per file. */
export function excessArguments(first: string, more: string[]): string {
  if (!more.every((m) => /[/.]/.test(m)))
    return `unexpected argument(s) ${more.join(' ')}: init takes flags only (batchcast init --help lists them)`;
  const g = generaliseFeaturesPath(first);
  const shown = [first, ...more.slice(0, 2)].join(' ');
  return (
    `--features got ${more.length + 1} paths (${shown}${more.length > 2 ? ' ...' : ''}): the shell expanded an unquoted glob. ` +
    `Quote the glob so that init sees the pattern, e.g. --features '${g.note ? g.pattern : 'exports/features/dt=*/*.parquet'}'`
  );
}
