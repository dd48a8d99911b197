// One schema for job files: the committed schema/job.schema.json is generated from the Zod schema that
// validates jobs at load, and every job in jobs/ passes it and points editors at it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jobJsonSchema } from '../src/jobs/job-schema.ts';
import { listJobs, loadJob, parseJob } from '../src/jobs/load-job.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const base = {
  features: { path: 'f/*.parquet', columns: ['a', 'b'] },
  model: { path: 'm.onnx', output: { kind: 'scores' } },
  items: { path: 'i.csv' },
};
const parse = (job: unknown) => parseJob('/p/jobs/x.json', JSON.stringify(job), '/p');

describe('job schema', () => {
  it('schema/job.schema.json is what `npm run schema` writes now', () => {
    const committed = JSON.parse(readFileSync(path.join(repo, 'schema', 'job.schema.json'), 'utf8'));
    expect(committed, 'run `npm run schema` and commit schema/job.schema.json').toEqual(jobJsonSchema());
  });

  it('validates every job shipped (the demo job in demo/, any in jobs/), each pointing editors at the schema', () => {
    const shipped = [
      ...listJobs(path.join(repo, 'jobs')).map((n) => ['jobs', n]),
      ...listJobs(path.join(repo, 'demo')).map((n) => ['demo', n]),
    ];
    expect(shipped).toContainEqual(['demo', 'demo']);
    for (const [dir, name] of shipped) {
      const file = JSON.parse(readFileSync(path.join(repo, dir, `${name}.json`), 'utf8'));
      expect(file.$schema, `${dir}/${name}.json`).toBe('../schema/job.schema.json');
      expect(loadJob(path.join(repo, dir), name, repo).name).toBe(name);
    }
  });

  it('describes the sections and their defaults for editors', () => {
    const s = jobJsonSchema() as { properties: Record<string, any>; required: string[]; additionalProperties: boolean };
    expect(s.required).toEqual(['features', 'model', 'items']);
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.k).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000, default: 10 });
    expect(s.properties.model.properties.output.oneOf).toHaveLength(2);
    expect(s.properties.features.properties.columns).toMatchObject({ type: 'array', uniqueItems: true, minItems: 1 });
  });

  it('takes retention.days, retention.archive and items.attributes, and names them when wrong', () => {
    const job = parse({
      ...base,
      retention: { days: 30, archive: '/a/{job}/{date}.parquet' },
      items: { path: 'i.csv', attributes: ['name', 'tags'] },
    });
    expect(job.retention).toEqual({ keep: 3, days: 30, archive: '/a/{job}/{date}.parquet' });
    expect(() => parse({ ...base, retention: { archive: 'a/{job}.parquet' } })).toThrow(/field "retention.archive" must contain \{date\}/);
    expect(job.items.attributes).toEqual(['name', 'tags']);
    expect(parse(base).items.attributes).toEqual([]);
    expect(() => parse({ ...base, retention: { days: 0 } })).toThrow(/field "retention.days" must be an integer between 1 and/);
    expect(() => parse({ ...base, retention: { archive: '' } })).toThrow(/field "retention.archive" must be a non-empty string/);
    expect(() => parse({ ...base, items: { path: 'i.csv', attributes: ['a', 'a'] } })).toThrow(
      /field "items.attributes" lists column "a" twice/,
    );
    expect(() => parse({ ...base, items: { path: 'i.csv', attributes: [] } })).toThrow(
      /field "items.attributes" must be a non-empty array/,
    );
  });

  it('takes gates: a number switches a gate on, null off, and a wrong one is named', () => {
    const g = parse({ ...base, gates: { min_rbo: 0.3, max_item_js_distance: null } }).gates;
    expect(g).toMatchObject({ enabled: true, minRbo: 0.3, maxItemJsDistance: null, minScoredRatio: 0.5, minCatalogCoverage: undefined });
    expect(() => parse({ ...base, gates: { min_rbo: 2 } })).toThrow(/field "gates.min_rbo" must be a number between 0 and 1 \(got 2\)/);
    expect(() => parse({ ...base, gates: { min_rbbo: 0.2 } })).toThrow(/field "gates.min_rbbo" is not a known field/);
  });

  it('names unknown fields in nested sections with the known ones, and allows $schema and comments', () => {
    expect(() => parse({ ...base, model: { ...base.model, input_name: 'x' } })).toThrow(
      /field "model.input_name" is not a known field \(known: path, input, inputs, output, card, examples, version\)/,
    );
    expect(() => parse({ ...base, model: { ...base.model, inputs: 'x' } })).toThrow(
      /field "model.inputs" must be an object: model input name -> array of feature columns/,
    );
    expect(() => parse({ ...base, model: { ...base.model, output: { kind: 'top_k', value: 'v' } } })).toThrow(
      /field "model.output.value" is not a known field/,
    );
    expect(() => parse({ ...base, features: 'x' })).toThrow(/field "features" must be an object/);
    expect(parse({ $schema: '../schema/job.schema.json', comment: 'hi', ...base, items: { path: 'i.csv', comment: 'ids' } }).name).toBe(
      'x',
    );
  });
});
