// The comparison and gate verdicts as terminal text, for predict --shadow, held runs and batchcast compare.
import type { Comparison, GateVerdict } from '../../store/profiles.ts';
import { formatTable } from './text.ts';

const f = (x: number | null | undefined, digits = 4) =>
  x === null || x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toPrecision(digits);

/** Every column but the first right-aligned: they hold numbers. */
const table = (headers: string[], rows: string[][]) => formatTable(headers, rows, headers.slice(1));

export function formatComparison(c: Comparison): string {
  const drifted = c.psi.filter((p) => p.psi > c.psiDriftThreshold);
  const worst = [...c.psi].sort((a, b) => b.psi - a.psi).slice(0, 5);
  return (
    `run ${c.runId} against run ${c.referenceRunId}\n` +
    table(
      ['figure', 'value'],
      [
        ['users ratio (now / reference)', f(c.usersRatio)],
        [`users sampled (in both, by a stable hash)`, f(c.sampleUsers)],
        ['mean overlap@K', f(c.meanOverlapAtK)],
        ['mean RBO (p = 0.9)', f(c.meanRbo)],
        ['item popularity JS distance', f(c.itemJsDistance)],
        [`drifted features (PSI > ${c.psiDriftThreshold})`, `${drifted.length} of ${c.psi.length} (${f(c.driftedFeatureShare, 3)})`],
        ...worst.map((p) => [`  PSI ${p.feature}`, f(p.psi)]),
      ],
    ) +
    (c.psiNote ? `note: ${c.psiNote}\n` : '')
  );
}

export function formatVerdicts(verdicts: GateVerdict[]): string {
  if (!verdicts.length) return 'gates: off for this job\n';
  return formatTable(
    ['gate', 'kind', 'value', 'threshold', 'verdict', 'about'],
    verdicts.map((v) => [
      v.gate,
      v.kind,
      f(v.value),
      f(v.threshold),
      v.value === null ? 'skipped' : v.passed ? 'pass' : 'FAIL',
      v.detail ?? '',
    ]),
    ['value', 'threshold'],
  );
}
