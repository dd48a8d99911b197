// Output shapes batchcast reads per user row; no ONNX Runtime here, so `init` can import it without loading it.
/**
 * Values per user row of an output shaped [batch, n], [batch] (one score per user: a scoring model) or
 * [batch, 1, n] / [batch, n, 1] (a batched matrix product left unsqueezed); undefined for other shapes.
 */
export function rowWidth(dims: readonly (number | string)[]): number | undefined {
  const rest = dims.slice(1);
  if (rest.length === 0) return 1;
  if (rest.length > 2) return undefined;
  const wide = rest.filter((d) => d !== 1);
  if (wide.length === 0) return 1;
  return wide.length === 1 && typeof wide[0] === 'number' && wide[0] > 0 ? wide[0] : undefined;
}

/** Symbolic ([batch, "items"]) shapes have a width only once probed; the rank test alone. */
export function isRowShape(dims: readonly (number | string)[]): boolean {
  const rest = dims.slice(1);
  return rest.length <= 1 || (rest.length === 2 && rest.some((d) => d === 1));
}
