-- The run ledger, the predictions (one partition per run), the pointer table and the view analysts query.

create table batchcast.runs (
  run_id          bigint generated always as identity primary key,
  job             text not null,
  prediction_date date not null,
  status          text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  model_version   text,
  model_sha256    text,
  input_files     text[] not null default '{}',
  k               int,
  rows_read       bigint not null default 0,
  rows_written    bigint not null default 0,
  rows_rejected   bigint not null default 0,
  -- milliseconds per stage: read, infer, write, index, publish, total
  timings         jsonb not null default '{}',
  error           text,
  host            text,
  pid             int,
  -- most frequent items of this run: served to users the run has no row for, when the job asks for it
  fallback_item_ids text[],
  fallback_scores   real[],
  -- when retention dropped this run's table (the ledger row stays)
  pruned_at       timestamptz,
  started_at      timestamptz not null default now(),
  finished_at     timestamptz
);
create index runs_job_date on batchcast.runs (job, prediction_date, run_id desc);

-- One row per user with arrays: COPY loads this about 2x faster than one row per rank (PG 15, measured).
-- Each run writes its own partition, loads it, indexes it, then attaches it; readers only reach
-- partitions through batchcast.published, so a loading run is invisible to them.
create table batchcast.predictions (
  run_id   bigint not null,
  user_id  text collate "C" not null,
  item_ids text[] not null,
  scores   real[] not null
) partition by list (run_id);
-- (run_id, user_id), not (user_id): with run_id leading, a lookup joined to the pointer prunes to one
-- partition at run time ("never executed" for the others); with (user_id) alone every partition is probed.
-- Each run builds its partition's index after COPY; ATTACH adopts it as part of this one.
create unique index predictions_run_user on batchcast.predictions (run_id, user_id);

-- The pointer: (job, date) -> the generation readers see. Publishing is an upsert of one row.
create table batchcast.published (
  job             text not null,
  prediction_date date not null,
  run_id          bigint not null references batchcast.runs (run_id),
  published_at    timestamptz not null default now(),
  primary key (job, prediction_date)
);

-- Every pointer move, for audit and for "what was served when".
create table batchcast.publish_log (
  id              bigint generated always as identity primary key,
  job             text not null,
  prediction_date date not null,
  run_id          bigint not null,
  previous_run_id bigint,
  action          text not null check (action in ('publish', 'rollback')),
  at              timestamptz not null default now()
);

-- Rows a run skipped (job bad_rows.mode = skip), with the reason.
create table batchcast.rejected_rows (
  run_id  bigint not null references batchcast.runs (run_id) on delete cascade,
  user_id text,
  reason  text not null
);
create index rejected_rows_run on batchcast.rejected_rows (run_id);

create view batchcast.recommendations as
select p.job,
       p.prediction_date,
       x.user_id,
       r.rank::int as rank,
       r.item_id,
       r.score,
       p.run_id,
       runs.model_version
  from batchcast.published p
  join batchcast.runs runs on runs.run_id = p.run_id
  join batchcast.predictions x on x.run_id = p.run_id
  cross join lateral unnest(x.item_ids, x.scores) with ordinality as r (item_id, score, rank);

comment on view batchcast.recommendations is
  'Published generations only: one row per (job, prediction_date, user_id, rank). Filter by job and prediction_date.';
