// The unit-error gate on ordinary demo days: generates DAYS consecutive demo days (the src/demo generator,
// seed SEED), runs each through the real pipeline with demo/demo.json as it is, and prints every gate that
// failed and the largest max_feature_scale_ratio seen, per feature. Not part of npm test (2-3 minutes).
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/experiments/ordinary-days-scale.ts [DAYS] [SEED]
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.ts';
import { openDb } from '../../src/db/connect.ts';
import { generateDemo } from '../../src/demo/generate.ts';
import { scaleRatios } from '../../src/guard/scale-ratio.ts';
import { silentLogger as log } from '../../src/log.ts';
import { predict } from '../../src/run/predict.ts';
import { loadProfiles } from '../../src/store/profiles.ts';

const days = Number(process.argv[2] ?? 30);
const seed = Number(process.argv[3] ?? 7);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-ordinary-'));
mkdirSync(path.join(root, 'jobs'));
copyFileSync(path.join(repo, 'demo', 'demo.json'), path.join(root, 'jobs', 'demo.json'));
const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL to a server where a database of its own may be created');
const name = `bc_ordinary_scale_${process.pid}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`create database ${name}`);
const dbUrl = Object.assign(new URL(url), { pathname: `/${name}` }).toString();
const db = await openDb(loadConfig({ databaseUrl: dbUrl }, {}), { poolSize: 4 });
const t = { url: dbUrl, db };
try {
  const { dates } = await generateDemo({
    outDir: path.join(root, 'data', 'demo'),
    users: 20_000,
    items: 5_000,
    days,
    endDate: '2026-11-30',
    k: 10,
    rowsPerFile: 1_000_000,
    seed,
  });
  const config = loadConfig({ databaseUrl: t.url, root, workers: 1, intraOpThreads: 1 }, {});
  const worst = new Map<string, number>();
  let previous: number | undefined;
  let held = 0;
  for (const date of dates) {
    const r = await predict({ job: 'demo', date, config, db: t.db, log });
    const gate = r.guard.verdicts.find((v) => v.gate === 'max_feature_scale_ratio');
    if (r.status !== 'published') held++;
    console.log(date, r.status, gate?.value?.toFixed(3) ?? '-', gate?.detail ?? '', r.guard.line ?? '');
    if (previous !== undefined) {
      const [now, ref] = [await loadProfiles(t.db.pool, r.runId), await loadProfiles(t.db.pool, previous)];
      // every feature, the skipped rain_mm included, to show why it is skipped
      for (const s of scaleRatios(now!.inputs.features, new Map(ref!.inputs.features.map((f) => [f.name, f])), new Set()))
        worst.set(s.feature, Math.max(worst.get(s.feature) ?? 0, s.ratio));
    }
    previous = r.runId;
  }
  console.log(`${dates.length} days, ${held} not published; largest scale ratio per feature between consecutive days:`);
  for (const [f, v] of [...worst].sort((a, b) => b[1] - a[1])) console.log(`  ${f.padEnd(16)} ${v.toFixed(3)}`);
} finally {
  await db.close();
  await admin.query(`drop database ${name}`);
  await admin.end();
  rmSync(root, { recursive: true, force: true });
}
