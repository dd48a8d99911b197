// What answers a lookup, whatever holds the generation: the batcher (one statement to PostgreSQL for many
// users, lookup-batcher.ts) or the served generations (memory first, src/serve/generations/).
import type { Generation } from '../../store/generation.ts';
import type { UserRecommendations } from '../../store/lookup-users.ts';

/** One user's stored items, and the generation they come from. */
export interface UserAnswer {
  generation: Generation;
  user: UserRecommendations;
}

/** What answerLookup asks; undefined when nothing is published for (job, date). */
export interface Lookups {
  lookup(job: string, date: string | null, userId: string): Promise<UserAnswer | undefined> | UserAnswer | undefined;
  /** Lookups waiting for the database (the batcher's). */
  readonly stats?: { queued: number };
}
