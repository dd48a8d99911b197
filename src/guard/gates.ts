// The job's gates, in the TFX manner: value bounds on this run, change bounds against its reference.
// A gate set to null in the job file is not evaluated; a change gate on a first run (no reference) is
// recorded with value null and passes: it was skipped, not failed.
import type { JobGates } from '../jobs/load-job.ts';
import type { Comparison, FeatureProfile, GateVerdict, InputProfile, OutputProfile } from '../store/profiles.ts';
import { describeScaleRatios, describeUnjudged, judgeScales } from './scale-ratio.ts';

export interface GateResult extends GateVerdict {
  /** which features gave the value (worst first), or an expectation's column, observed value and bound; stored since sql/010 */
  detail?: string;
}

interface Facts {
  inputs: InputProfile;
  outputs: OutputProfile;
  /** sameDate: a rerun of the date it replaces, whose inputs may well be the same file */
  reference: { inputs: InputProfile; comparison: Comparison; date: string; sameDate: boolean } | null;
}

/** The worst feature of `pick` (largest value), with its name. */
function worst(values: { feature: string; value: number }[]): { value: number; detail?: string } | null {
  if (!values.length) return null;
  const w = values.reduce((a, b) => (b.value > a.value ? b : a));
  return { value: w.value, detail: `feature ${w.feature}` };
}

/** Whether the reference had a point mass at `v`: two deciles or more equal to it (at least ~10% of its values). */
function commonValue(ref: FeatureProfile, v: number): boolean {
  const near = (d: number) => Math.abs(d - v) <= 1e-6 * Math.max(1, Math.abs(v)); // float32 in the file, double in the profile
  return ref.deciles.filter(near).length >= 2;
}

/**
 * Features with spread in the reference and none now, at a value that was not common in the reference: a
 * column exported as a constant (all zeros, a default). A day without rain anywhere makes rain_mm constant at
 * 0, which was most of the reference's values: that is weather, not a broken export.
 */
function newConstants(now: FeatureProfile[], ref: Map<string, FeatureProfile>) {
  const names = now
    .filter((f) => {
      const r = ref.get(f.name);
      return f.min !== null && f.min === f.max && r?.std && !commonValue(r, f.min);
    })
    .map((f) => f.name);
  return { value: names.length, detail: names.length ? `feature ${names.slice(0, 3).join(', ')}` : undefined };
}

const same = (a: number | null, b: number | null | undefined) =>
  a === b || (a !== null && b != null && Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)));

/** Whether a feature's profile equals the reference's in every figure (to rounding: DuckDB sums in parallel). */
function unchanged(f: FeatureProfile, r: FeatureProfile | undefined): boolean {
  return (
    !!r &&
    f.rows === r.rows &&
    f.nulls === r.nulls &&
    f.nans === r.nans &&
    f.infs === r.infs &&
    same(f.mean, r.mean) &&
    same(f.std, r.std) &&
    same(f.min, r.min) &&
    same(f.max, r.max) &&
    f.deciles.length === r.deciles.length &&
    f.deciles.every((d, i) => same(d, r.deciles[i]))
  );
}

/**
 * Features whose profile differs from the reference date's. Static features (a user's age) repeat from one
 * day to the next; every feature repeating to the last digit, row counts included, is yesterday's file again.
 */
function changedFeatures(now: FeatureProfile[], ref: Map<string, FeatureProfile>, refDate: string) {
  const changed = now.filter((f) => !unchanged(f, ref.get(f.name))).length;
  return { value: changed, detail: changed ? undefined : `all ${now.length} feature profiles equal ${refDate}'s: the same input again?` };
}

export function evaluateGates(g: JobGates, facts: Facts): GateResult[] {
  if (!g.enabled) return [];
  const out: GateResult[] = [];
  const check = (
    gate: string,
    kind: GateVerdict['kind'],
    bound: 'max' | 'min',
    threshold: number | null,
    figure: { value: number | null; detail?: string } | null | undefined,
  ) => {
    if (threshold === null) return;
    if (!figure || figure.value === null) {
      out.push({ gate, kind, value: null, threshold, passed: true, ...(figure?.detail ? { detail: figure.detail } : {}) });
      return;
    }
    const passed = bound === 'max' ? figure.value <= threshold : figure.value >= threshold;
    out.push({ gate, kind, value: figure.value, threshold, passed, detail: figure.detail });
  };
  const o = facts.outputs;
  check('max_top_item_share', 'value', 'max', g.maxTopItemShare, {
    value: o.topItemShare,
    detail: o.topItemId ? `item ${o.topItemId}` : undefined,
  });
  const coverage = g.minCatalogCoverage === undefined ? Math.min(1, (2 * o.k) / Math.max(1, o.items)) : g.minCatalogCoverage;
  check('min_catalog_coverage', 'value', 'min', coverage, { value: o.catalogCoverage });
  check('min_scored_ratio', 'value', 'min', g.minScoredRatio, { value: o.scoredRatio });

  const ref = facts.reference;
  const c = ref?.comparison;
  const refFeatures = new Map((ref?.inputs.features ?? []).map((f) => [f.name, f]));
  const ifRef = <T>(f: () => T) => (ref ? f() : null);
  check(
    'max_feature_psi',
    'change',
    'max',
    g.maxFeaturePsi,
    ifRef(() => worst(c!.psi.map((p) => ({ feature: p.feature, value: p.psi })))),
  );
  check(
    'max_drifted_feature_share',
    'change',
    'max',
    g.maxDriftedFeatureShare,
    ifRef(() => ({ value: c!.driftedFeatureShare })),
  );
  check(
    'max_feature_scale_ratio',
    'change',
    'max',
    g.maxFeatureScaleRatio,
    ifRef(() => {
      const { ratios, unjudged } = judgeScales(facts.inputs.features, refFeatures, new Set(g.scaleRatioSkipFeatures));
      const rest = describeUnjudged(unjudged);
      if (!ratios.length) return unjudged.length ? { value: null, detail: `no feature judged${rest}` } : null;
      return { value: ratios[0].ratio, detail: describeScaleRatios(ratios, g.maxFeatureScaleRatio ?? Infinity) + rest };
    }),
  );
  check(
    'max_new_constant_features',
    'change',
    'max',
    g.maxNewConstantFeatures,
    ifRef(() => newConstants(facts.inputs.features, refFeatures)),
  );
  // a rerun of the same date may read the same file on purpose: then this gate is skipped
  check(
    'min_changed_features',
    'change',
    'min',
    g.minChangedFeatures,
    ifRef(() => (ref!.sameDate ? null : changedFeatures(facts.inputs.features, refFeatures, ref!.date))),
  );
  check(
    'min_overlap_at_k',
    'change',
    'min',
    g.minOverlapAtK,
    ifRef(() => ({ value: c!.meanOverlapAtK })),
  );
  check(
    'min_rbo',
    'change',
    'min',
    g.minRbo,
    ifRef(() => ({ value: c!.meanRbo })),
  );
  check(
    'max_item_js_distance',
    'change',
    'max',
    g.maxItemJsDistance,
    ifRef(() => ({ value: c!.itemJsDistance })),
  );
  check(
    'min_users_ratio',
    'change',
    'min',
    g.minUsersRatio,
    ifRef(() => ({ value: c!.usersRatio })),
  );
  check(
    'max_users_ratio',
    'change',
    'max',
    g.maxUsersRatio,
    ifRef(() => ({ value: c!.usersRatio })),
  );
  return out;
}

const fmt = (x: number) =>
  Math.abs(x) >= 1000 || (x !== 0 && Math.abs(x) < 0.001) ? x.toExponential(3) : String(Number(x.toPrecision(4)));

/**
 * The failed gates in the order a person should read them: broken expectations on the inputs, then the unit
 * error (it names the features), then the other gates naming features, then the rest. A unit error on one
 * feature also trips output gates (the item popularity moves): the cause comes first, not its symptom.
 */
export function causesFirst<T extends GateVerdict>(failed: T[]): T[] {
  const rank = (v: GateVerdict) =>
    v.kind === 'expectation' ? 0 : v.gate === 'max_feature_scale_ratio' ? 1 : v.detail?.startsWith('feature') ? 2 : 3;
  return [...failed].sort((a, b) => rank(a) - rank(b));
}

/** The one line a person acts on: job, date, run, the gate, its value and threshold, and the command that publishes anyway. */
export function heldLine(o: { job: string; date: string; runId: number; shadow: boolean; failed: GateResult[] }): string {
  const [first, ...more] = causesFirst(o.failed);
  const what =
    first.kind === 'expectation'
      ? `expectation ${first.detail}`
      : `gate ${first.gate} = ${fmt(first.value!)}${first.detail ? ` (${first.detail})` : ''}, threshold ${fmt(first.threshold)}`;
  const also = more.length ? `; also failed: ${more.map((m) => m.gate).join(', ')}` : '';
  const head = `job ${o.job}, date ${o.date}, run ${o.runId}`;
  return o.shadow
    ? `${head} (shadow) fails ${what}${also}; never published; promote it anyway with: batchcast publish --run ${o.runId} --reason "..."`
    : `${head} held: ${what}${also}; the previous generation is still served; publish it anyway with: batchcast publish --run ${o.runId} --reason "..."`;
}
