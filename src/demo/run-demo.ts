// `batchcast demo`: generate the walking-route data (unless it is already there), run the demo job for
// the latest date, and show what came out, in words a person can check.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load-config.ts';
import { yesterday } from '../dates.ts';
import type { Db } from '../db/connect.ts';
import { loadJob } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { sqlString, withDuckDB } from '../read/duckdb.ts';
import { type PredictResult, predict } from '../run/predict.ts';
import type { Precision } from './build-model.ts';
import { generateDemo, writeDemoModel } from './generate.ts';
import { makeRoutes } from './walking-routes.ts';

export interface DemoRunOptions {
  config: Config;
  db: Db;
  log: Logger;
  users: number;
  items: number;
  days: number;
  endDate?: string;
  /** regenerate even if data/demo already matches */
  regenerate: boolean;
  showUsers: number;
  /** the model variant to run (same weights): `demo --model int8` */
  precision: Precision;
}

export interface DemoSummary {
  result: PredictResult;
  precision: Precision;
  /** average length of the top 3 routes, for users with rain forecast (>= 2 mm) and without */
  weather: { rainyUsers: number; rainyKm: number; dryUsers: number; dryKm: number };
  samples: { user: Record<string, unknown>; routes: { rank: number; name: string; km: number; tags: string; score: number }[] }[];
}

/** Bumped when the items file's columns change (2: length_km became km), so older demo data is regenerated. */
const ITEMS_FORMAT = 2;
interface Stamp {
  users: number;
  items: number;
  days: number;
  endDate: string;
  itemsFormat?: number;
}

const seed = 7;

/** The precision the demo's model card records (cards written before variants existed are fp32). */
function modelPrecision(card: string | undefined): Precision | undefined {
  if (!card || !existsSync(card)) return undefined;
  return (JSON.parse(readFileSync(card, 'utf8')) as { precision?: Precision }).precision ?? 'fp32';
}

export async function runDemo(o: DemoRunOptions): Promise<DemoSummary> {
  const job = loadJob(o.config.jobsDir, 'demo', o.config.root);
  const outDir = path.resolve(o.config.root, 'data/demo');
  const endDate = o.endDate ?? yesterday();
  const stampFile = path.join(outDir, 'generated.json');
  const wanted: Stamp = { users: o.users, items: o.items, days: o.days, endDate, itemsFormat: ITEMS_FORMAT };
  const have = existsSync(stampFile) ? (JSON.parse(readFileSync(stampFile, 'utf8')) as Stamp) : undefined;
  if (o.regenerate || JSON.stringify(have) !== JSON.stringify(wanted)) {
    o.log.info(`generating demo data: ${o.users} users, ${o.items} routes, ${o.days} days ending ${endDate}`);
    await generateDemo({
      outDir,
      users: o.users,
      items: o.items,
      days: o.days,
      endDate,
      k: job.k,
      rowsPerFile: 1_000_000,
      seed,
      precision: o.precision,
      log: (m) => o.log.info(m),
    });
    writeFileSync(stampFile, JSON.stringify(wanted) + '\n');
  } else if (modelPrecision(job.model.card) !== o.precision) {
    // Same data, another variant of the model: rewrite only the model and its card.
    writeDemoModel(outDir, makeRoutes(o.items, seed), seed, job.k, o.precision, (m) => o.log.info(m));
  }
  const date = endDate;
  const result = await predict({ job, date, config: o.config, db: o.db, log: o.log });

  // A few users, with the features that explain their routes.
  const { rows } = await o.db.pool.query<{ user_id: string; rank: number; item_id: string; score: number }>(
    `select user_id, rank, item_id, score from batchcast.recommendations
      where job = 'demo' and prediction_date = $1 and user_id = any($2::text[]) order by user_id, rank`,
    [date, Array.from({ length: o.showUsers }, (_, i) => String(1 + i * 997))],
  );
  const samples = await withDuckDB({}, async (conn) => {
    const catalogue = await conn.runAndReadAll(
      `SELECT route_id, name, km, replace(tags, ';', ', ') FROM read_csv(${sqlString(job.items.path)}, header = true)`,
    );
    const routes = new Map(
      catalogue.getRows().map(([id, name, km, tags]) => [String(id), { name: String(name), km: Number(km), tags: String(tags) }]),
    );
    const out: DemoSummary['samples'] = [];
    for (const userId of [...new Set(rows.map((r) => r.user_id))]) {
      const f = await conn.runAndReadAll(
        `SELECT * EXCLUDE (user_id) FROM read_parquet(${sqlString(path.join(outDir, 'features', `dt=${date}`, '*.parquet'))}) WHERE user_id = ${Number(userId)}`,
      );
      out.push({
        user: { user_id: userId, ...(f.getRowObjectsJson()[0] as Record<string, unknown>) },
        routes: rows
          .filter((r) => r.user_id === userId)
          .map((r) => ({ rank: r.rank, score: r.score, ...(routes.get(r.item_id) ?? { name: r.item_id, km: NaN, tags: '' }) })),
      });
    }
    return { out, routes };
  });

  // The weather effect, over the first 5,000 users: rain should shorten everyone's walks.
  const top3 = await o.db.pool.query<{ user_id: string; item_id: string }>(
    `select user_id, item_id from batchcast.recommendations
      where job = 'demo' and prediction_date = $1 and user_id = any($2::text[]) and rank <= 3`,
    [date, Array.from({ length: 5000 }, (_, i) => String(i + 1))],
  );
  const rain = await withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(
      `SELECT user_id::VARCHAR, rain_mm FROM read_parquet(${sqlString(path.join(outDir, 'features', `dt=${date}`, '*.parquet'))}) WHERE user_id <= 5000`,
    );
    return new Map(r.getRows().map(([u, mm]) => [String(u), Number(mm)]));
  });
  const sums = { rainy: [0, 0], dry: [0, 0] };
  for (const r of top3.rows) {
    const mm = rain.get(r.user_id);
    const km = samples.routes.get(r.item_id)?.km;
    if (mm === undefined || km === undefined) continue;
    const bucket = mm >= 2 ? sums.rainy : mm === 0 ? sums.dry : undefined;
    if (bucket) {
      bucket[0] += km;
      bucket[1]++;
    }
  }
  const weather = {
    rainyUsers: sums.rainy[1] / 3,
    rainyKm: sums.rainy[1] ? sums.rainy[0] / sums.rainy[1] : NaN,
    dryUsers: sums.dry[1] / 3,
    dryKm: sums.dry[1] ? sums.dry[0] / sums.dry[1] : NaN,
  };
  return { result, precision: o.precision, samples: samples.out, weather };
}
