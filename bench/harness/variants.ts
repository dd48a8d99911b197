// Speed against agreement: each compressed variant of a model (src/demo/build-model.ts) against fp32, in one
// run, median of the rounds: ORT alone in predict's shape (the variants in turns, batch by batch, in the
// same workers), end to end (interleaved: round r starts at variant r, so no variant always runs first),
// and overlap@10 / RBO of its published generation against fp32's on every user.
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../src/config/load-config.ts';
import type { Precision } from '../../src/demo/build-model.ts';
import { type Agreement, compareGenerations } from '../agreement.ts';
import { BENCH_DATE, ensureDataset, ensureVariant, type ModelSpec } from './datasets.ts';
import { endToEnd } from './end-to-end.ts';
import { ortAloneTurns, sampleFeatures } from './stages.ts';

export interface VariantResult {
  precision: Precision;
  model_bytes: number;
  /** per round, users/s */
  ort_alone: number[];
  e2e: number[];
  ort_alone_median: number;
  e2e_median: number;
  /** median / fp32's median */
  ort_speedup: number;
  e2e_speedup: number;
  /** null for fp32, the reference */
  agreement: Agreement | null;
  /** the goal for a compressed model: >= 1.5 x ORT alone at overlap@10 >= 0.95 */
  goal_met: boolean;
}

export interface VariantResults {
  when: string;
  model: string;
  users: number;
  rounds: number;
  machine: Record<string, unknown>;
  settings: Record<string, number>;
  variants: VariantResult[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round2 = (x: number) => Math.round(x * 100) / 100;
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
const fmt = (n: number) => n.toLocaleString('en-US');

export async function measureVariants(o: {
  spec: ModelSpec;
  users: number;
  precisions: Precision[];
  url: string;
  benchDir: string;
  config: Config;
  rounds: number;
  machine: Record<string, unknown>;
  log: (m: string) => void;
}): Promise<VariantResults> {
  if (o.precisions[0] !== 'fp32') throw new Error(`--variants must start with fp32, the reference (got ${o.precisions.join(',')})`);
  const base = await ensureDataset(o.benchDir, o.spec, o.users, o.log);
  const sets = o.precisions.map((p) => ensureVariant(base, p));
  const sample = await sampleFeatures(base, Math.min(o.users, 200_000));
  const ort: number[][] = sets.map(() => []);
  const e2e: number[][] = sets.map(() => []);
  for (let r = 0; r < o.rounds; r++) {
    const perS = await ortAloneTurns(sets, sample.features, o.config.workers, o.config.intraOpThreads, 3 * sets.length);
    perS.forEach((x, i) => ort[i].push(Math.round(x)));
    o.log(
      `round ${r + 1}/${o.rounds}: ORT alone (in turns) ${perS.map((x, i) => `${o.precisions[i]} ${Math.round(x)}`).join(', ')} users/s`,
    );
    for (let n = 0; n < sets.length; n++) {
      const i = (r + n) % sets.length;
      e2e[i].push(Math.round((await endToEnd(sets[i], o.url)).usersPerS));
      o.log(`round ${r + 1}/${o.rounds} ${o.precisions[i]}: end to end ${e2e[i][r]} users/s`);
    }
  }
  const variants: VariantResult[] = [];
  for (const [i, ds] of sets.entries()) {
    if (i > 0) o.log(`${o.precisions[i]}: comparing its generation with fp32's`);
    const agreement =
      i > 0 ? await compareGenerations(o.url, { job: base.job, date: BENCH_DATE }, { job: ds.job, date: BENCH_DATE }, o.spec.k) : null;
    const ortSpeedup = round2(median(ort[i]) / median(ort[0]));
    variants.push({
      precision: o.precisions[i],
      model_bytes: statSync(ds.modelFile).size,
      ort_alone: ort[i],
      e2e: e2e[i],
      ort_alone_median: median(ort[i]),
      e2e_median: median(e2e[i]),
      ort_speedup: ortSpeedup,
      e2e_speedup: round2(median(e2e[i]) / median(e2e[0])),
      agreement: agreement && { ...agreement, meanOverlapAtK: round4(agreement.meanOverlapAtK), meanRbo: round4(agreement.meanRbo) },
      goal_met: !!agreement && ortSpeedup >= 1.5 && agreement.meanOverlapAtK >= 0.95,
    });
  }
  return {
    when: new Date().toISOString(),
    model: o.spec.name,
    users: o.users,
    rounds: o.rounds,
    machine: o.machine,
    settings: { workers: o.config.workers, intra_op_threads: o.config.intraOpThreads, batch_size: o.spec.batchSize },
    variants,
  };
}

/** results/variants-<model>-<users>.json and .md: the "speed against agreement" table. */
export function writeVariantReport(outDir: string, r: VariantResults): string {
  const name = path.join(outDir, `variants-${r.model}-${r.users}`);
  writeFileSync(`${name}.json`, JSON.stringify(r, null, 2) + '\n');
  const lines = [
    `# Speed against agreement: ${r.model} model, ${fmt(r.users)} users (${r.when})`,
    '',
    `Median of ${r.rounds} interleaved rounds. Machine: ${JSON.stringify(r.machine)}. Settings: ${JSON.stringify(r.settings)}.`,
    '',
    '| variant | model file | ORT alone users/s | x fp32 | end to end users/s | x fp32 | overlap@10 vs fp32 | RBO (p = 0.9) | goal (>= 1.5x ORT at overlap >= 0.95) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...r.variants.map(
      (v) =>
        `| ${v.precision} | ${(v.model_bytes / 1e6).toFixed(2)} MB | ${fmt(v.ort_alone_median)} (${v.ort_alone.map(fmt).join(', ')}) | ${v.ort_speedup} | ${fmt(v.e2e_median)} (${v.e2e.map(fmt).join(', ')}) | ${v.e2e_speedup} | ${v.agreement?.meanOverlapAtK ?? '(reference)'} | ${v.agreement?.meanRbo ?? ''} | ${v.precision === 'fp32' ? 'reference' : v.goal_met ? 'met' : 'missed'} |`,
    ),
    '',
  ];
  writeFileSync(`${name}.md`, lines.join('\n'));
  return `${name}.md`;
}
