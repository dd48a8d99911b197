// A bounded queue of the API is full (lookups waiting for the database, scoring requests waiting for the
// model): the request is refused at once, 503 with Retry-After, instead of queueing without end.
export class OverloadedError extends Error {
  override name = 'OverloadedError';
}
