// The body of POST /v1/jobs/{job}/score, checked before it reaches the model. Features are keyed by the
// job's column names (`{"likes_park": 0.4, ...}`), or are one array for a list-column job. A missing, extra
// or mistyped feature is refused here, naming it; a value becomes float32 as in a run, and null becomes
// NaN (like a NULL in Parquet), so the worker's bad-row check rejects NaN, NULL and +-Inf with a run's words.
import type { JobDefinition } from '../../jobs/load-job.ts';
import { CONTROL, MAX_USER_ID_CHARS } from '../http/params.ts';

export interface ScoreInput {
  userId: string;
  /** job.features.size values, in model-input order */
  features: Float32Array;
}

export class BadScoreInput {
  constructor(
    readonly parameter: 'body' | 'user_id' | 'features',
    readonly message: string,
    readonly feature?: string,
  ) {}
}

/** Bytes of body accepted for a job: room for every feature as a long number with its name, and a user id. */
export function maxBodyBytes(job: JobDefinition): number {
  const names = job.features.columns.reduce((n, c) => n + c.length, 0);
  return 4096 + names + job.features.size * 40;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
const shown = (v: string) => JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v).replace(/[\u0000-\u001f\u007f]/g, '?');

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function featureValue(job: JobDefinition, name: string, v: unknown): number | BadScoreInput {
  if (v === null) return NaN; // a NULL: the bad-row rules decide, as for a NULL in the features file
  if (typeof v === 'boolean') return v ? 1 : 0; // as a BOOLEAN column reads in a run
  if (typeof v !== 'number') {
    return new BadScoreInput('features', `feature ${name} of job ${job.name} must be a number or a boolean (got ${typeName(v)})`, name);
  }
  return v;
}

export function parseScoreBody(job: JobDefinition, text: string): ScoreInput | BadScoreInput {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return new BadScoreInput(
      'body',
      `the body is not valid JSON (${(err as Error).message.slice(0, 120)}); send {"user_id": "...", "features": ...}`,
    );
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return new BadScoreInput('body', `the body must be a JSON object {"user_id": "...", "features": ...} (got ${typeName(body)})`);
  }
  const obj = body as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'user_id' && key !== 'features')
      return new BadScoreInput('body', `unknown field ${shown(key)}; the body takes user_id and features`);
  }
  let userId = obj.user_id;
  if (typeof userId === 'number' && Number.isSafeInteger(userId)) userId = String(userId);
  if (typeof userId !== 'string') return new BadScoreInput('user_id', `user_id must be a string (got ${typeName(userId)})`);
  if (userId.length === 0 || userId.length > MAX_USER_ID_CHARS) {
    return new BadScoreInput('user_id', `user_id must be 1 to ${MAX_USER_ID_CHARS} characters (got ${userId.length})`);
  }
  if (CONTROL.test(userId)) return new BadScoreInput('user_id', `user_id ${shown(userId)} contains control characters`);

  const f = job.features;
  const given = obj.features;
  const out = new Float32Array(f.size);
  if (f.listColumn) {
    if (!Array.isArray(given)) {
      return new BadScoreInput(
        'features',
        `features must be an array of ${f.size} numbers for job ${job.name} (list column ${f.listColumn}; got ${typeName(given)})`,
      );
    }
    if (given.length !== f.size) {
      return new BadScoreInput(
        'features',
        `features has ${given.length} values but job ${job.name} takes ${f.size} (list column ${f.listColumn})`,
      );
    }
    for (let i = 0; i < f.size; i++) {
      // named as the worker names list features, 1-based
      const v = featureValue(job, `${f.listColumn}[${i + 1}]`, given[i]);
      if (v instanceof BadScoreInput) return v;
      out[i] = v;
    }
    return { userId, features: out };
  }
  if (!given || typeof given !== 'object' || Array.isArray(given)) {
    return new BadScoreInput(
      'features',
      `features must be an object keyed by the columns of job ${job.name} (${f.columns.join(', ')}; got ${typeName(given)})`,
    );
  }
  const values = given as Record<string, unknown>;
  for (const name of Object.keys(values)) {
    if (!f.columns.includes(name)) {
      return new BadScoreInput(
        'features',
        `feature ${shown(name)} is not a feature of job ${job.name} (features: ${f.columns.join(', ')})`,
        name.slice(0, 64),
      );
    }
  }
  for (let i = 0; i < f.size; i++) {
    const name = f.columns[i];
    if (!Object.hasOwn(values, name))
      return new BadScoreInput('features', `feature ${name} is missing; job ${job.name} needs all of ${f.columns.join(', ')}`, name);
    const v = featureValue(job, name, values[name]);
    if (v instanceof BadScoreInput) return v;
    out[i] = v;
  }
  return { userId, features: out };
}

/** The shortest decimal that reads back as the same float32, as PostgreSQL prints a real. */
export function float32Text(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return Number(x.toPrecision(9));
}
