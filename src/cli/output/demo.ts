// What `batchcast demo` prints: the published run, a few users' routes, and what to try next.
import type { DemoSummary } from '../../demo/run-demo.ts';
import { EXAMPLE_QUERY } from '../../store/tables.ts';
import { wholeNumber as n, type OutputFlags } from './text.ts';

export function printDemoSummary(s: DemoSummary, flags: OutputFlags, embedded = false): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
    return;
  }
  const r = s.result;
  const out: string[] = [];
  out.push('', `Published ${n(r.rows)} users' recommendations for ${r.date} (job ${r.job}, run ${r.runId}, model ${r.modelVersion})`);
  out.push(`in ${r.seconds.toFixed(1)} s: ${n(r.usersPerSecond)} users/s end to end, publish ${r.timings.publish} ms.`, '');
  for (const { user, routes } of s.samples) {
    const likes = Object.entries(user)
      .filter(([k, v]) => k.startsWith('likes_') && Number(v) >= 0.5)
      .map(([k]) => k.slice(6));
    out.push(
      `User ${user.user_id}: likes ${likes.join(', ') || 'nothing in particular'}; prefers ~${Number(user.preferred_km).toFixed(1)} km; ` +
        `forecast ${Number(user.rain_mm).toFixed(1)} mm rain, ${Number(user.temp_c).toFixed(1)} °C${Number(user.is_weekend) ? ', weekend' : ''}`,
    );
    for (const route of routes.slice(0, 5)) {
      out.push(
        `  ${String(route.rank).padStart(2)}. ${route.name.padEnd(34)} ${route.km.toFixed(1).padStart(5)} km  ${route.tags.padEnd(24)} score ${route.score.toFixed(3)}`,
      );
    }
    out.push('');
  }
  const w = s.weather;
  if (w.rainyUsers > 0 && w.dryUsers > 0) {
    out.push(
      `Weather: where rain is forecast (${n(w.rainyUsers)} of the first 5,000 users), the top 3 routes average ${w.rainyKm.toFixed(1)} km;` +
        ` where it is dry (${n(w.dryUsers)} users), ${w.dryKm.toFixed(1)} km.`,
      '',
    );
  }
  if (s.precision !== 'fp32') {
    // Comparing this generation with an fp32 one user by user is the guardrails comparison's job (not here yet).
    out.push(
      `This ran the ${s.precision} variant of the model (same weights). How far it moves users' top 10 from fp32's,`,
      `measured on 1M users: bench/README.md, "Speed against agreement" (rerun: npm run bench -- --variants fp32,${s.precision}).`,
      '',
    );
  }
  // Commands that work on a fresh machine: `sql` starts the embedded server again when nothing keeps it up.
  out.push('Next, query the published recommendations with SQL:');
  out.push(
    `  npx batchcast sql "select rank, item_id, score from batchcast.recommendations where job = 'demo' and prediction_date = '${r.date}' and user_id = '1' order by rank"`,
  );
  out.push(`  npx batchcast sql "${EXAMPLE_QUERY}"`);
  if (embedded) {
    out.push('Keep the embedded PostgreSQL up for psql, DBeaver or `npx batchcast serve`:');
    out.push('  npx batchcast db start', '  psql "$(npx batchcast db url)"', '  npx batchcast db stop');
  } else {
    out.push('or with psql: psql "$DATABASE_URL"');
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}
