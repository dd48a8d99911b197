// docs/configuration.md, generated from the schema in config-schema.ts by `npm run docs:config`
// (scripts/write-config-docs.ts); test/config.test.ts fails when the committed file differs from this.
import { settingGroups } from './config-schema.ts';
import { listSettings, type Setting } from './list-settings.ts';

const intro = `<!-- Generated from src/config/config-schema.ts by \`npm run docs:config\`; edit the schema, not this file. -->

# Configuration

Every setting, its default, the environment variable that sets it and the values it takes. Settings are read
in one place (\`src/config/load-config.ts\`), in this order, each layer overriding the ones before it:

1. the defaults below;
2. \`config/default.json\`: the settings every environment shares (committed);
3. \`config/$BATCHCAST_ENV.json\`, when \`BATCHCAST_ENV\` names one: \`BATCHCAST_ENV=production\` reads
   \`config/production.json\`, which must then exist. \`config/production.example.json\` is a start: copy it to
   \`config/production.json\`;
4. environment variables;
5. command-line flags, e.g. \`--workers\`, \`--log-level\` or \`serve --port\` (\`batchcast <command> --help\` lists them).

A config file holds one JSON object: settings by name, and sections as objects, e.g.
\`{"workers": 2, "serve": {"host": "0.0.0.0"}}\`. Keys starting with \`$\` (\`"$comment"\`) are ignored; any other
key that is not a setting below is refused, naming the file and the settings it may hold. Relative paths
(jobsDir, embedded.dataDir, duckdb.extensionDirectory, .duckdb_extension files) are read from root, whichever
layer gave them. Passwords belong in the environment (\`DATABASE_URL\`, \`LOOKUP_DATABASE_URL\`), not in a file.

Environment variables hold integers as digits, booleans as \`true\`/\`false\` (or \`1\`/\`0\`) and lists
comma-separated; an empty variable counts as unset (for a list: empty).

A bad value stops the command with exit code 2 before anything runs, naming the setting, where the value came
from and what it must be: \`config workers=0 must be an integer between 1 and 64 (from environment variable
BATCHCAST_WORKERS)\`. The loaded configuration is frozen.
`;

const code = (s: string) => `\`${s}\``;
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(s: Setting): string {
  const type = s.type.def.type;
  if (type === 'number') return 'integer';
  if (type === 'array') return 'list of strings';
  if (type === 'enum') return 'string';
  return type;
}

/** A default as it would be written in a config file, with durations in words. */
function defaultOf(s: Setting): string {
  if (s.defaultText !== undefined) return s.defaultText;
  if (s.defaultValue === undefined) return 'unset';
  const json = code(JSON.stringify(s.defaultValue));
  const ms = s.key.endsWith('Ms') ? Number(s.defaultValue) : 0;
  if (ms < 1000) return json;
  return `${json} (${ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`})`;
}

function envOf(s: Setting): string {
  if (s.env === undefined) return '';
  return s.type.def.type === 'array' ? `${code(s.env)} (comma-separated)` : code(s.env);
}

function row(s: Setting): string {
  if (!s.description) throw new Error(`config-schema.ts: setting ${s.key} has no description; add one in its .meta()`);
  return `| ${[code(s.key), typeOf(s), defaultOf(s), envOf(s), s.bounds ?? '', s.description].map(cell).join(' | ')} |`;
}

/** The whole of docs/configuration.md. */
export function configReference(): string {
  const settings = new Map(listSettings().map((s) => [s.key, s]));
  const groups = settingGroups.map((g) => {
    const rows = Object.keys(g.settings).map((k) => {
      const key = g.section ? `${g.section}.${k}` : k;
      const s = settings.get(key)!;
      settings.delete(key);
      return row(s);
    });
    const heading = g.section ? `${g.title}: \`${g.section}.*\`` : g.title;
    return [
      `## ${heading}`,
      '',
      g.about,
      '',
      '| setting | type | default | environment | bounds | description |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
  });
  if (settings.size)
    throw new Error(`config-schema.ts: ${[...settings.keys()].join(', ')} belong to no group of settingGroups; add them to one`);
  return [intro.trimEnd(), ...groups].join('\n\n') + '\n';
}
