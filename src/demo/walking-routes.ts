// The demo's domain: a walking-route app that precomputes ~10 routes per user each day.
// The model is a real two-tower MLP, but its weights are shaped by hand so that the output can be read:
// people who like short riverside walks get short riverside routes, rain pushes everyone to shorter and
// sheltered routes (cafés, historic arcades), heat to shade and water, weekends to longer walks.

import type { TwoTowerWeights } from './build-model.ts';
import { gaussian, rng } from './random.ts';

export const TAGS = ['park', 'river', 'historic', 'cafe', 'forest', 'hills'] as const;
export const DISTRICTS = ['Old Town', 'Northbank', 'Eastfield', 'Harbour', 'Millbrook', 'Greenhill', 'Westgate', 'Southpark'] as const;
const NOUNS: Record<(typeof TAGS)[number], string> = {
  park: 'Park Loop',
  river: 'Riverside Walk',
  historic: 'Heritage Trail',
  cafe: 'Café Stroll',
  forest: 'Woodland Path',
  hills: 'Hill Climb',
};

/** User feature columns, in model-input order. */
export const FEATURE_COLUMNS = [
  'likes_park',
  'likes_river',
  'likes_historic',
  'likes_cafe',
  'likes_forest',
  'likes_hills',
  'preferred_km',
  'fitness',
  'rain_mm',
  'temp_c',
  'is_weekend',
] as const;

export interface Route {
  idx: number;
  route_id: string;
  name: string;
  district: string;
  length_km: number;
  tags: string[];
  popularity: number;
}

export function makeRoutes(n: number, seed: number): Route[] {
  const next = rng(seed);
  const routes: Route[] = [];
  for (let i = 0; i < n; i++) {
    const tags = new Set<(typeof TAGS)[number]>([TAGS[Math.floor(next() * TAGS.length)]]);
    while (next() < 0.45 && tags.size < 3) tags.add(TAGS[Math.floor(next() * TAGS.length)]);
    const district = DISTRICTS[Math.floor(next() * DISTRICTS.length)];
    const first = [...tags][0];
    routes.push({
      idx: i,
      route_id: `R${String(i + 1).padStart(5, '0')}`,
      name: `${district} ${NOUNS[first]} ${Math.floor(i / 48) + 1}`,
      district,
      length_km: Math.round((1 + 19 * next() ** 2) * 10) / 10,
      tags: [...tags],
      popularity: Math.round(next() * 1000) / 1000,
    });
  }
  return routes;
}

const H = 16; // hidden units: 13 shaped by hand, 3 random
const D = 16; // embedding: 6 tags, short, long, popularity, medium, 6 latent

/** Hand-shaped weights; see the file comment. Index names follow FEATURE_COLUMNS. */
export function walkingRouteWeights(routes: Route[], seed: number): TwoTowerWeights {
  const next = rng(seed);
  const F = FEATURE_COLUMNS.length;
  const col = (name: (typeof FEATURE_COLUMNS)[number]) => FEATURE_COLUMNS.indexOf(name);
  const w1 = new Float32Array(F * H);
  const b1 = new Float32Array(H);
  const set1 = (feature: number, unit: number, v: number) => {
    w1[feature * H + unit] = v;
  };
  for (let t = 0; t < 6; t++) set1(t, t, 1); // h0..h5: likes_* pass through
  // h6 wants short (under ~6 km), more so in rain
  set1(col('preferred_km'), 6, -0.2);
  set1(col('rain_mm'), 6, 0.06);
  b1[6] = 1.2;
  // h7 wants long (over ~9 km): fitness and weekends help, rain does not
  set1(col('preferred_km'), 7, 0.15);
  set1(col('fitness'), 7, 0.3);
  set1(col('is_weekend'), 7, 0.3);
  set1(col('rain_mm'), 7, -0.08);
  b1[7] = -1.35;
  // h14 - h15 is a tent peaking at 6 km: wants medium routes
  set1(col('preferred_km'), 14, 0.25);
  b1[14] = -0.5;
  set1(col('preferred_km'), 15, 0.5);
  b1[15] = -3;
  set1(col('temp_c'), 8, 1 / 6);
  b1[8] = -22 / 6; // h8 hot
  set1(col('temp_c'), 9, -0.1);
  b1[9] = 1; // h9 cold
  set1(col('rain_mm'), 10, 1 / 8);
  b1[10] = -0.1; // h10 wet
  for (let u = 11; u < 14; u++) for (let f = 0; f < F; f++) set1(f, u, gaussian(next, 0.02)); // taste noise: small

  const w2 = new Float32Array(H * D);
  const b2 = new Float32Array(D);
  const set2 = (unit: number, dim: number, v: number) => {
    w2[unit * D + dim] = v;
  };
  const tag = (t: (typeof TAGS)[number]) => TAGS.indexOf(t);
  for (let t = 0; t < 6; t++) set2(t, t, 2); // tastes weigh most
  set2(6, 6, 1.5);
  set2(10, 6, 0.8); // shortness
  set2(7, 7, 1.5);
  set2(10, 7, -0.5); // longness
  set2(8, tag('river'), 0.4);
  set2(8, tag('forest'), 0.4);
  set2(8, tag('park'), 0.2); // heat: shade and water
  set2(9, tag('cafe'), 0.5);
  set2(9, tag('historic'), 0.2); // cold: indoors nearby
  set2(10, tag('cafe'), 0.4);
  set2(10, tag('historic'), 0.2);
  set2(10, tag('hills'), -0.3);
  set2(10, tag('forest'), -0.2); // wet
  b2[8] = 0.5; // everyone likes popular routes a little
  set2(14, 9, 1.5);
  set2(15, 9, -1.5); // medium
  for (let u = 11; u < 14; u++) for (let d = 10; d < D; d++) set2(u, d, gaussian(next, 0.15));

  const n = routes.length;
  const itemsT = new Float32Array(D * n);
  routes.forEach((r, i) => {
    for (const t of r.tags) itemsT[tag(t as (typeof TAGS)[number]) * n + i] = 1;
    itemsT[6 * n + i] = Math.exp(-r.length_km / 3);
    itemsT[7 * n + i] = Math.min(r.length_km / 12, 1.5);
    itemsT[8 * n + i] = r.popularity;
    itemsT[9 * n + i] = Math.exp(-(((r.length_km - 6) / 3) ** 2));
    for (let d = 10; d < D; d++) itemsT[d * n + i] = gaussian(next, 0.2);
  });
  return { inputSize: F, hidden: H, embedding: D, items: n, w1, b1, w2, b2, itemsT, itemBias: new Float32Array(n) };
}

/**
 * DuckDB SQL for one date's user features. Preferences are stable per user (hashes of the id);
 * weather is per (date, district), so recommendations change from day to day.
 */
export function featuresSql(date: string, firstUser: number, count: number, seed: number): string {
  const u = (...salt: number[]) => `((hash(i, ${[seed, ...salt].join(', ')}) % 1000003)::DOUBLE / 1000003)`;
  const w = (...salt: number[]) => `((hash(district, DATE '${date}', ${[seed, ...salt].join(', ')}) % 1000003)::DOUBLE / 1000003)`;
  const c = (...salt: number[]) => `((hash(DATE '${date}', ${[seed, ...salt].join(', ')}) % 1000003)::DOUBLE / 1000003)`;
  const like = (s: number) => `(CASE WHEN ${u(s)} < 0.3 THEN 0.6 + 0.4 * ${u(s, 100)} ELSE 0.3 * ${u(s, 100)} END)::FLOAT`;
  return `
    WITH users AS (
      SELECT i, (hash(i, ${seed}, 99) % ${DISTRICTS.length})::INT AS district
        FROM range(${firstUser}, ${firstUser + count}) t(i)
    )
    SELECT i AS user_id,
           ${TAGS.map((t, k) => `${like(k + 1)} AS likes_${t}`).join(',\n           ')},
           round(1 + 14 * pow(${u(7)}, 1.5), 1)::FLOAT AS preferred_km,
           ${u(8)}::FLOAT AS fitness,
           (CASE WHEN ${w(10)} < 0.35 THEN round(20 * pow(${w(11)}, 2), 1) ELSE 0 END)::FLOAT AS rain_mm,
           round(8 + 14 * (${c(12)} - 0.5) + 2 * (${w(13)} - 0.5), 1)::FLOAT AS temp_c,
           (CASE WHEN dayofweek(DATE '${date}') IN (0, 6) THEN 1 ELSE 0 END)::FLOAT AS is_weekend
      FROM users ORDER BY i`;
}
