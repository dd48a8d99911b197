// Writes the demo inputs under data/demo/: the route catalogue, hive-partitioned user features for several
// consecutive dates, and the ONNX model with its card. Deterministic: same options, same bytes of data.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../read/duckdb.ts';
import { buildTwoTowerModel, type Precision } from './build-model.ts';
import { FEATURE_COLUMNS, featuresSql, makeRoutes, type Route, walkingRouteWeights } from './walking-routes.ts';

export interface DemoOptions {
  outDir: string;
  users: number;
  items: number;
  /** Consecutive dates ending at `endDate` (inclusive). */
  days: number;
  endDate: string;
  k: number;
  /** At most this many rows per Parquet file; larger partitions are split into several files. */
  rowsPerFile: number;
  seed: number;
  /** the model variant to write (same weights); default fp32 */
  precision?: Precision;
  log?: (msg: string) => void;
}

export const MODEL_VERSION = 'walking-routes-2026.11.1';

export function datesEndingAt(endDate: string, days: number): string[] {
  const end = Date.parse(`${endDate}T00:00:00Z`);
  return Array.from({ length: days }, (_, i) => new Date(end - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function writeItems(file: string, routes: Route[]): void {
  const lines = ['idx,route_id,name,district,km,tags,popularity'];
  for (const r of routes)
    lines.push([r.idx, r.route_id, r.name, r.district, r.length_km, r.tags.join(';'), r.popularity].map(csvField).join(','));
  writeFileSync(file, lines.join('\n') + '\n');
}

/** Writes one partition per date, split into files of at most rowsPerFile rows. Returns the file count. */
export async function writeFeaturePartitions(
  dir: string,
  dates: string[],
  users: number,
  rowsPerFile: number,
  sqlFor: (date: string, firstUser: number, count: number) => string,
  log: (msg: string) => void = () => {},
): Promise<number> {
  let files = 0;
  await withDuckDB({}, async (conn) => {
    for (const date of dates) {
      const part = path.join(dir, `dt=${date}`);
      rmSync(part, { recursive: true, force: true });
      mkdirSync(part, { recursive: true });
      for (let first = 0, n = 0; first < users; first += rowsPerFile, n++) {
        const count = Math.min(rowsPerFile, users - first);
        const file = path.join(part, `part-${String(n).padStart(5, '0')}.parquet`);
        await conn.run(
          `COPY (${sqlFor(date, first, count)}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
        );
        files++;
      }
      log(`features for ${date}: ${users} users in ${part}`);
    }
  });
  return files;
}

/** The demo model at a precision, and its card (with that file's sha256); the weights depend on the routes only. */
export function writeDemoModel(
  outDir: string,
  routes: Route[],
  seed: number,
  k: number,
  precision: Precision,
  log: (msg: string) => void = () => {},
): string {
  const weights = walkingRouteWeights(routes, seed + 1);
  const version = precision === 'fp32' ? MODEL_VERSION : `${MODEL_VERSION}-${precision}`;
  const modelBytes = buildTwoTowerModel(weights, {
    k,
    output: 'top_k',
    version: MODEL_VERSION,
    name: 'walking_routes_two_tower',
    precision,
  });
  const modelFile = path.join(outDir, 'model.onnx');
  writeFileSync(modelFile, modelBytes);
  const card = {
    name: 'walking_routes_two_tower',
    version,
    precision,
    description:
      'Two-tower recommender for walking routes: user MLP (11 -> 16 ReLU -> 16) dot route embeddings, then TopK.' +
      (precision === 'fp32' ? '' : ` The ${precision} variant of the same weights (src/demo/build-model.ts).`),
    sha256: createHash('sha256').update(modelBytes).digest('hex'),
    trained_on: 'synthetic data from `batchcast generate` (hand-shaped weights, see src/demo/walking-routes.ts)',
    inputs: [{ name: 'features', dtype: 'float32', shape: ['batch', FEATURE_COLUMNS.length], columns: FEATURE_COLUMNS }],
    outputs: [
      { name: 'top_scores', dtype: 'float32', shape: ['batch', k] },
      { name: 'top_indices', dtype: 'int64', shape: ['batch', k], meaning: 'row index (idx) in items.csv' },
    ],
    items: { file: 'items.csv', count: routes.length, index_column: 'idx', id_column: 'route_id' },
  };
  writeFileSync(path.join(outDir, 'model.card.json'), JSON.stringify(card, null, 2) + '\n');
  log(`model ${version}: ${modelFile}`);
  return modelFile;
}

export async function generateDemo(opts: DemoOptions): Promise<{ dates: string[]; modelFile: string; itemsFile: string }> {
  const log = opts.log ?? (() => {});
  mkdirSync(opts.outDir, { recursive: true });
  const routes = makeRoutes(opts.items, opts.seed);
  const itemsFile = path.join(opts.outDir, 'items.csv');
  writeItems(itemsFile, routes);
  log(`catalogue: ${routes.length} routes in ${itemsFile}`);

  const modelFile = writeDemoModel(opts.outDir, routes, opts.seed, opts.k, opts.precision ?? 'fp32', log);

  const dates = datesEndingAt(opts.endDate, opts.days);
  await writeFeaturePartitions(
    path.join(opts.outDir, 'features'),
    dates,
    opts.users,
    opts.rowsPerFile,
    (date, first, count) => featuresSql(date, first + 1, count, opts.seed),
    log,
  );
  return { dates, modelFile, itemsFile };
}
