// What every store function takes first: a pool, a pooled or dedicated client, or a client inside a
// transaction. The caller decides the transaction; the function only queries.
import type pg from 'pg';

export type Queryable = Pick<pg.ClientBase, 'query'>;
