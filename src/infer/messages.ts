// What the main thread and the inference workers say to each other.
import type { ModelInput, ModelOutput } from '../jobs/load-job.ts';
import type { UserIds } from '../store/copy-binary.ts';

export interface WorkerInit {
  type: 'init';
  modelPath: string;
  /** the model's inputs and the feature positions each takes (one input of every feature, usually) */
  inputs: ModelInput[];
  output: ModelOutput;
  k: number;
  /** rows per session.run */
  batchSize: number;
  intraOpThreads: number;
  featureSize: number;
  featureNames: string[];
  /** items in the items file (model indices 0..items-1); rows store indices (sql/006) */
  items: number;
}

export interface ScoreRequest {
  type: 'score';
  id: number;
  rows: number;
  ids: UserIds;
  features: Float32Array;
}

/** Online scoring: the same checks and top K as a run's chunk, answered as arrays (see InferPool.rank). */
export interface RankRequest extends Omit<ScoreRequest, 'type'> {
  type: 'rank';
}

export type WorkerRequest = WorkerInit | ScoreRequest | RankRequest | { type: 'counts'; id: number } | { type: 'close'; id: number };

export interface BadRow {
  /** row within the chunk */
  row: number;
  userId: string;
  reason: string;
}

/** Top K of the good rows of a chunk (online scoring). */
export interface Ranked {
  /** rows skipped (bad features, NaN scores), with the reason */
  bad: BadRow[];
  /** input row of each ranked row; undefined: every row, in order */
  keep: number[] | undefined;
  /** ranked rows x k, descending per row */
  values: Float32Array;
  /** ranked rows x k, model item indices */
  indices: Int32Array;
  inferMs: number;
}

export type WorkerReply =
  | { type: 'ready'; id: -1; inputNames: readonly string[]; outputNames: readonly string[]; fixedBatch: number | undefined }
  | { type: 'scored'; id: number; buffer: Uint8Array; rows: number; bad: BadRow[]; inferMs: number; encodeMs: number }
  | ({ type: 'ranked'; id: number } & Ranked)
  | { type: 'counts'; id: number; itemCounts: Float64Array }
  | { type: 'closed'; id: number }
  | { type: 'error'; id: number; message: string };
