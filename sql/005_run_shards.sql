-- One date scored by N processes (predict --shard I/N) into one generation: one run, one row per shard.
-- runs.shards is N for a sharded generation (NULL for a whole-date run). At most one sharded generation
-- of a (job, date) is in progress: the shards of one Kubernetes Indexed Job all join it.
alter table batchcast.runs add column shards integer check (shards between 1 and 100000);
-- Who launched the generation, when known (BATCHCAST_GENERATION_KEY: the Kubernetes Job's uid): a pod of
-- that Job restarted after the generation finished finds its shard done instead of starting a new one.
alter table batchcast.runs add column generation_key text;

create unique index runs_one_sharded_in_progress on batchcast.runs (job, prediction_date)
  where shards is not null and status = 'running';

create table batchcast.run_shards (
  run_id        bigint not null references batchcast.runs (run_id) on delete cascade,
  shard         integer not null,
  shards        integer not null,
  status        text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  rows_read     bigint not null default 0,
  rows_written  bigint not null default 0,
  rows_rejected bigint not null default 0,
  host          text,
  pid           integer,
  attempts      integer not null default 1,
  started_at    timestamptz not null default now(),
  finished_at   timestamptz,
  error         text,
  -- how often each item (in the job's items order) is in a top K of this shard: summed into the generation's output profile
  item_counts   bigint[],
  primary key (run_id, shard),
  check (shard >= 0 and shard < shards)
);
