// The lookup's JSON body, concatenated from cached pieces: byte for byte what JSON.stringify gives for
// {job, user_id, prediction_date, run_id, model_version, generated_at, source, items: [{item_id, score,
// rank}]}, in 1.2 µs against 4.1 µs (an in-process loop over 200k users; bench/README-lookup.md,
// "Synchronous answers from memory"). Each item's `{"item_id":...,"score":` and each generation's fields
// are escaped once.
// (An earlier hand-built body, when lookups read PostgreSQL, cached less and measured slower.)
import type { Generation } from '../../store/generation.ts';

/** The fields that depend only on the generation (not on the user), per generation object. */
const generationParts = new WeakMap<Generation, string>();

export function itemHead(itemId: string): string {
  return `{"item_id":${JSON.stringify(itemId)},"score":`;
}

function generationPart(g: Generation): string {
  let part = generationParts.get(g);
  if (part === undefined) {
    part = `,"prediction_date":${JSON.stringify(g.predictionDate)},"run_id":${JSON.stringify(g.runId)},"model_version":${JSON.stringify(g.modelVersion)},"generated_at":${JSON.stringify(g.generatedAt)},"source":`;
    generationParts.set(g, part);
  }
  return part;
}

/**
 * The first `n` items and scores; a score that is not finite is null, as JSON.stringify writes it.
 * `heads`, when given, holds each item's itemHead (a generation in memory keeps them per item index);
 * answers from PostgreSQL escape their ids here, a microsecond beside the statement.
 */
export function lookupBody(
  job: string,
  userId: string,
  g: Generation,
  source: 'model' | 'fallback',
  itemIds: readonly string[],
  scores: readonly number[],
  n: number,
  heads?: readonly string[],
): string {
  let body = `{"job":${JSON.stringify(job)},"user_id":${JSON.stringify(userId)}${generationPart(g)}"${source}","items":[`;
  for (let i = 0; i < n; i++) {
    const score = scores[i];
    body += `${i === 0 ? '' : ','}${heads ? heads[i] : itemHead(itemIds[i])}${Number.isFinite(score) ? score : 'null'},"rank":${i + 1}}`;
  }
  return `${body}]}`;
}
