// Probes (/readyz, /metrics) are answered from state at most `ms` old: one read serves every probe in
// that window, and while a read is in flight every caller shares it (single flight). So a flood of probes,
// or many Kubernetes nodes and Prometheus replicas, costs at most one query a second, never one each.

/** `load` wrapped so that its result (or failure) is reused for `ms` after the load started. */
export function freshWithin<T>(ms: number, load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (pending) return pending;
    if (last && performance.now() - last.at < ms) return last.value;
    const at = performance.now();
    const value = load();
    pending = value;
    const settle = () => {
      pending = undefined;
      last = { at, value };
    };
    value.then(settle, settle);
    return value;
  };
}
