// Job files are validated at load; every error names the file and the field.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../src/errors.ts';
import { loadJob, parseJob } from '../src/jobs/load-job.ts';

const base = {
  features: { path: 'data/x/features/dt=*/*.parquet', partition_column: 'dt', user_id_column: 'user_id', columns: ['a', 'b'] },
  model: { path: 'data/x/model.onnx', input: 'features', output: { kind: 'top_k', values: 'v', indices: 'i' } },
  items: { path: 'data/x/items.csv', id_column: 'item_id' },
  k: 10,
};

function parse(job: unknown, file = '/p/jobs/x.json') {
  return parseJob(file, JSON.stringify(job), '/p');
}

function fails(job: unknown, ...parts: string[]) {
  let err: unknown;
  try {
    parse(job);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BadInputError);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('job definition', () => {
  it('model.inputs: each input its columns, as positions in features.columns; every column exactly once', () => {
    const { input: _, ...model } = base.model;
    const job = parse({
      ...base,
      features: { ...base.features, columns: ['a', 'b', 'c'] },
      model: { ...model, inputs: { y: ['c'], x: ['b', 'a'] } },
    });
    expect(job.model.inputs).toEqual([
      { name: 'y', columns: [2] },
      { name: 'x', columns: [1, 0] },
    ]);
    expect(parse(base).model.inputs).toEqual([{ name: 'features', columns: undefined }]);
    const bad = (inputs: unknown, features: object = base.features) => ({ ...base, features, model: { ...model, inputs } });
    fails({ ...base, model: { ...base.model, inputs: { x: ['a', 'b'] } } }, 'field "model.inputs" and "model.input" are both set');
    fails(bad({ x: ['a'] }), 'field "model.inputs" leaves column(s) "b" of features.columns to no input');
    fails(bad({ x: ['a', 'b'], y: ['b'] }), 'gives column "b" to both "x" and "y"');
    fails(bad({ x: ['a', 'b', 'z'] }), 'gives input "x" column "z", which is not in features.columns (a, b)');
    fails(bad({}), 'field "model.inputs" is empty');
    const { columns: __, ...noColumns } = base.features;
    fails(bad({ x: ['a'] }, { ...noColumns, list_column: 'v', list_size: 2 }), 'needs features.columns, not a list column');
  });

  it('fills defaults and resolves paths against the project root', () => {
    const job = parse(base);
    expect(job.name).toBe('x');
    expect(job.features.path).toBe('/p/data/x/features/dt=*/*.parquet');
    expect(job.features.size).toBe(2);
    expect(job.model.output).toEqual({ kind: 'top_k', values: 'v', indices: 'i' });
    expect(job.batchSize).toBe(8192);
    expect(job.badRows).toEqual({ mode: 'reject', maxBadFraction: 0 });
    expect(job.retention.keep).toBe(3);
    expect(job.schedule).toBeUndefined();
    expect(Object.isFrozen(job)).toBe(true);
  });

  it('accepts one fixed-size list column instead of scalar columns', () => {
    const job = parse({ ...base, features: { path: 'f/*.parquet', list_column: 'vec', list_size: 32 } });
    expect(job.features).toMatchObject({ listColumn: 'vec', size: 32, columns: [], partitionColumn: 'dt', userIdColumn: 'user_id' });
  });

  it('names the bad field', () => {
    fails({ ...base, k: 0 }, '/p/jobs/x.json', '"k"', 'between 1 and 1000');
    fails({ ...base, k: 2.5 }, '"k"');
    fails({ ...base, batch_size: 'big' }, '"batch_size"');
    fails({ ...base, model: { ...base.model, output: { kind: 'probabilities' } } }, '"model.output.kind"', 'scores, top_k');
    fails({ ...base, features: { ...base.features, columns: ['a', 'a'] } }, '"features.columns"', 'twice');
    fails({ ...base, features: { ...base.features, columns: ['a', 7] } }, '"features.columns[1]"');
    fails({ ...base, features: { path: 'x', list_column: 'v' } }, '"features.list_size"', 'missing');
    fails({ ...base, features: { path: 'x', columns: ['a'], list_column: 'v', list_size: 2 } }, 'exactly one of "columns"');
    fails({ ...base, items: undefined }, '"items"', 'missing');
    fails({ ...base, bad_rows: { mode: 'skip', max_bad_fraction: 2 } }, '"bad_rows.max_bad_fraction"');
    fails({ ...base, schedule: { timezone: 'UTC' } }, '"schedule.cron"', 'missing');
    fails({ ...base, colour: 'red' }, '"colour"', 'not a known field');
    fails({ ...base, name: 'other' }, '"name" is "other"', 'x.json');
    fails([1, 2], 'must hold a JSON object');
  });

  it('reads retention by date: days and an archive template resolved against the root', () => {
    expect(parse(base).retention).toEqual({ keep: 3, days: undefined, archive: undefined });
    const job = parse({ ...base, retention: { days: 365, archive: 'data/archive/{job}/dt={date}.parquet' } });
    expect(job.retention).toEqual({ keep: 3, days: 365, archive: '/p/data/archive/{job}/dt={date}.parquet' });
    fails({ ...base, retention: { days: 0 } }, '/p/jobs/x.json', 'retention.days', 'between 1 and 36500');
    fails({ ...base, retention: { days: 7, archive: 'data/archive/{job}.parquet' } }, 'retention.archive', 'must contain {date}');
    fails(
      { ...base, retention: { days: 7, archive: 'data/{jobname}/{date}.parquet' } },
      'retention.archive',
      'unknown placeholder {jobname}',
    );
    fails({ ...base, retention: { day: 7 } }, 'retention.day', 'not a known field');
  });

  it('reads items.attributes: columns of the items file for ?include=attributes', () => {
    expect(parse(base).items.attributes).toEqual([]);
    expect(parse({ ...base, items: { ...base.items, attributes: ['name', 'km'] } }).items.attributes).toEqual(['name', 'km']);
    fails({ ...base, items: { ...base.items, attributes: [] } }, '"items.attributes"', 'non-empty array');
    fails({ ...base, items: { ...base.items, attributes: ['name', 'name'] } }, '"items.attributes"', 'twice');
    fails({ ...base, items: { ...base.items, attributes: 'name' } }, '"items.attributes"');
    fails({ ...base, items: { ...base.items, attributes: ['item_id'] } }, '"items.attributes"', 'id column');
  });

  it('rejects invalid JSON and unknown job names with what to do', () => {
    expect(() => parseJob('/p/jobs/x.json', '{ nope', '/p')).toThrow(/not valid JSON/);
    const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-jobs-'));
    mkdirSync(path.join(root, 'jobs'));
    writeFileSync(path.join(root, 'jobs', 'demo.json'), JSON.stringify(base));
    expect(loadJob(path.join(root, 'jobs'), 'demo').name).toBe('demo');
    expect(() => loadJob(path.join(root, 'jobs'), 'nope')).toThrow(/unknown job "nope".*known jobs: demo/);
    expect(() => loadJob(path.join(root, 'jobs'), '../etc/passwd')).toThrow(/not valid/);
  });
});

describe('gates', () => {
  it('defaults catch catastrophes; null switches a gate off; bad values name the field', () => {
    const d = parse(base).gates;
    expect(d).toMatchObject({
      enabled: true,
      maxTopItemShare: null,
      minCatalogCoverage: undefined,
      minScoredRatio: 0.5,
      maxFeaturePsi: null,
      psiDriftThreshold: 0.25,
      maxDriftedFeatureShare: 0.5,
      maxFeatureScaleRatio: 5,
      scaleRatioSkipFeatures: [],
      maxNewConstantFeatures: 0,
      minOverlapAtK: null,
      minRbo: null,
      maxItemJsDistance: 0.8,
      minUsersRatio: 0.9,
      maxUsersRatio: 1.5,
    });
    expect(parse(base).expectations).toEqual({ rowCount: undefined, columns: [] });
    expect(parse({ ...base, gates: { scale_ratio_skip_features: ['b'] } }).gates.scaleRatioSkipFeatures).toEqual(['b']);
    fails(
      { ...base, gates: { scale_ratio_skip_features: ['rain'] } },
      'field "gates.scale_ratio_skip_features" names "rain", which is not a feature (a, b)',
    );
    const set = parse({
      ...base,
      gates: { max_feature_psi: 2, min_catalog_coverage: null, max_feature_scale_ratio: null, min_overlap_at_k: 0.2 },
    }).gates;
    expect(set).toMatchObject({
      maxFeaturePsi: 2,
      minCatalogCoverage: null,
      maxFeatureScaleRatio: null,
      minOverlapAtK: 0.2,
      minUsersRatio: 0.9,
    });
    fails({ ...base, gates: { min_overlap_at_k: 1.5 } }, 'field "gates.min_overlap_at_k" must be a number between 0 and 1');
    fails({ ...base, gates: { max_psi: 1 } }, 'field "gates.max_psi" is not a known field');
    fails({ ...base, gates: { enabled: 'yes' } }, 'field "gates.enabled" must be true or false');
  });
});
