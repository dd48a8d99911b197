// Configuration is read here and nowhere else, in one visible order:
//   code defaults < config/default.json < config/$BATCHCAST_ENV.json < environment < flags.
// Every setting is declared once, in config-schema.ts: its default, environment variable and bounds, and
// the types below, come from there. The result is validated and frozen; a bad value names itself, says
// where it came from (file, environment variable or flag) and what it must be.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { BadInputError } from '../errors.ts';
import { configSchema } from './config-schema.ts';
import { listSettings, type Setting, sectionShape } from './list-settings.ts';

/** The schema's output with every key present: an unset setting is `undefined`, not a missing key. */
type Settled<T> = { [K in keyof Required<T>]: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Settled<T[K]> : T[K] };

export type Config = Settled<z.output<typeof configSchema>>;
export type EmbeddedConfig = Config['embedded'];
export type DuckdbConfig = Config['duckdb'];
export type ServeConfig = Config['serve'];
export type ScheduleConfig = Config['schedule'];
export type MetricsConfig = Config['metrics'];
export type ConfigOverrides = { [K in keyof Config]?: Config[K] extends object ? Partial<Config[K]> : Config[K] };

const settings = listSettings();
const settingAt = new Map(settings.map((s) => [s.key, s]));
/** BATCHCAST_ROOT: read before the files, which are found under the root. */
const ROOT_VARIABLE = settingAt.get('root')!.env!;
/** Selects config/<name>.json on top of config/default.json. */
const ENV_FILE_VARIABLE = 'BATCHCAST_ENV';

type Values = Record<string, unknown>;
/** Where a value came from: a config file, an environment variable, or a flag (the caller's overrides). */
type Origin = { file: string } | { env: string } | 'flag';

const isObject = (v: unknown): v is Values => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Builds the configuration. `flags` are the CLI's (or a test's) overrides and win over everything. */
export function loadConfig(flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const root = path.resolve(flags.root ?? env[ROOT_VARIABLE] ?? process.cwd());
  const values: Values = {};
  const origins = new Map<string, Origin>();
  for (const file of configFiles(root, env)) overlay(values, readConfigFile(file), { file }, origins);
  for (const s of settings) {
    const value = s.env === undefined ? undefined : fromEnv(s, env[s.env]);
    if (value !== undefined) overlay(values, nest(s.path, value), { env: s.env! }, origins);
  }
  overlay(values, flags, 'flag', origins);
  values.root = root;

  const parsed = configSchema.safeParse(values);
  if (!parsed.success) throw new BadInputError(parsed.error.issues.map((i) => explain(i, values, origins)).join('; '));
  const c = parsed.data as Values;
  for (const s of settings) {
    const holder = s.path.slice(0, -1).reduce((o, k) => o[k] as Values, c);
    if (!(s.path.at(-1)! in holder)) holder[s.path.at(-1)!] = undefined;
  }
  return deepFreeze(resolvePaths(c as Config, root));
}

/** config/default.json when it exists, then config/$BATCHCAST_ENV.json, which must exist when named. */
function configFiles(root: string, env: NodeJS.ProcessEnv): string[] {
  const files = [path.join(root, 'config', 'default.json')].filter((f) => existsSync(f));
  const name = env[ENV_FILE_VARIABLE];
  if (name) {
    const envFile = path.join(root, 'config', `${name}.json`);
    if (!existsSync(envFile)) {
      throw new BadInputError(`${ENV_FILE_VARIABLE}=${name} but ${envFile} does not exist; create it or unset ${ENV_FILE_VARIABLE}`);
    }
    files.push(envFile);
  }
  return files;
}

function readConfigFile(file: string): Values {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BadInputError(`config file ${file} is not valid JSON: ${(err as Error).message}; fix or remove it`, { cause: err });
  }
  if (!isObject(obj)) throw new BadInputError(`config file ${file} must hold one JSON object of settings, e.g. {"workers": 2}`);
  return knownSettings(file, obj, configSchema.shape, []);
}

/** A file's settings without its `$comment`-style keys; a setting the schema does not have is refused. */
function knownSettings(file: string, obj: Values, shape: z.ZodRawShape, prefix: string[]): Values {
  const inFiles = Object.keys(shape).filter((k) => !settingAt.get([...prefix, k].join('.'))?.notInFiles);
  const known = inFiles.map((k) => [...prefix, k].join('.')).join(', ');
  const out: Values = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith('$')) continue;
    const key = [...prefix, k].join('.');
    if (!inFiles.includes(k)) {
      throw new BadInputError(
        `config file ${file}: unknown setting "${key}" (known: ${known}); fix its name or remove it (docs/configuration.md lists every setting)`,
      );
    }
    const inner = sectionShape(shape[k] as z.ZodType);
    if (inner === undefined) out[k] = v;
    else if (isObject(v)) out[k] = knownSettings(file, v, inner, [...prefix, k]);
    else
      throw new BadInputError(
        `config file ${file}: "${key}" must be an object of settings (known: ${Object.keys(inner)
          .map((n) => `${key}.${n}`)
          .join(', ')})`,
      );
  }
  return out;
}

/**
 * An environment variable's text as its setting's type: an integer, true/false (or 1/0), a comma-separated
 * list. Empty means unset, except for a list (empty list). Text that does not convert is passed on as it is,
 * for the schema to refuse with the setting's own message.
 */
function fromEnv(s: Setting, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  const type = s.type.def.type;
  if (type === 'array')
    return text
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
  if (text === '') return undefined;
  if (type === 'number') return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
  if (type === 'boolean')
    return ({ true: true, 1: true, false: false, 0: false } as Record<string, boolean>)[text.trim().toLowerCase()] ?? text;
  return text;
}

const nest = (keys: string[], value: unknown): Values => keys.reduceRight<unknown>((v, k) => ({ [k]: v }), value) as Values;

/** Lays `from` over `into`, setting by setting (sections merge, lists are replaced), noting each one's origin. */
function overlay(into: Values, from: object, origin: Origin, origins: Map<string, Origin>, prefix = ''): void {
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    origins.set(prefix + k, origin);
    if (isObject(v)) {
      into[k] = isObject(into[k]) ? into[k] : {};
      overlay(into[k] as Values, v, origin, origins, `${prefix}${k}.`);
    } else {
      into[k] = v;
    }
  }
}

/** One issue as one clause: the setting, its value (unless secret), what it must be, and where it came from. */
function explain(issue: z.core.$ZodIssue, values: Values, origins: Map<string, Origin>): string {
  const at = issue.path.findIndex((p) => typeof p === 'number'); // an entry of a list
  const keys = (at < 0 ? issue.path : issue.path.slice(0, at)).map(String);
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((k) => [...keys, k].join('.'));
    return `config ${names.join(', ')} ${issue.message} (${origin(origins.get(names[0]!), undefined)})`;
  }
  const key = keys.join('.');
  const setting = settingAt.get(key);
  const value = issue.path.reduce<unknown>((o, k) => (isObject(o) || Array.isArray(o) ? (o as Values)[k as string] : undefined), values);
  const where = origin(origins.get(key), setting?.env);
  if (at >= 0) return `config ${key}: ${JSON.stringify(value)} ${issue.message} (${where})`;
  if (setting?.secret) return `config ${key} ${issue.message} (${where}; the value is not shown, it may hold a password)`;
  return `config ${key}=${JSON.stringify(value)} ${issue.message} (${where})`;
}

function origin(o: Origin | undefined, env: string | undefined): string {
  if (o !== undefined && o !== 'flag' && 'env' in o) return `from environment variable ${o.env}`;
  if (o !== undefined && o !== 'flag') return `from config file ${o.file}${env ? `; environment variable ${env} overrides it` : ''}`;
  if (o === 'flag') return `from a flag${env ? `, which overrides environment variable ${env}` : ''}`;
  return `the default${env ? `; environment variable ${env} sets it` : ''}`;
}

/** Relative paths are read from the project root, whichever layer gave them. */
function resolvePaths(c: Config, root: string): Config {
  c.jobsDir = path.resolve(root, c.jobsDir);
  c.embedded.dataDir = path.resolve(root, c.embedded.dataDir);
  const { extensionDirectory, extensions } = c.duckdb;
  if (extensionDirectory !== undefined) c.duckdb.extensionDirectory = path.resolve(root, extensionDirectory);
  c.duckdb.extensions = extensions.map((e) => (e.endsWith('.duckdb_extension') ? path.resolve(root, e) : e));
  return c;
}

function deepFreeze<T extends object>(o: T): Readonly<T> {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
  return Object.freeze(o);
}

/** Hides the password in a connection string, for logs and error messages. */
export function redactUrl(url: string | undefined): string {
  if (!url) return '(embedded)';
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}
