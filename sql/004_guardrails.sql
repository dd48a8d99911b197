-- Guardrails: every run is profiled and compared with the generation it would replace; a run that
-- breaks its job's gates is written but held back. Shadow runs are written and compared, never published.

alter table batchcast.runs drop constraint runs_status_check;
alter table batchcast.runs add constraint runs_status_check
  check (status in ('running', 'succeeded', 'failed', 'held', 'shadow'));

-- the model file a shadow run scored with, when it was not the job's own (--model candidate.onnx)
alter table batchcast.runs add column model_path text;

alter table batchcast.publish_log drop constraint publish_log_action_check;
alter table batchcast.publish_log add constraint publish_log_action_check
  check (action in ('publish', 'rollback', 'override'));
-- why a person published a held or shadow run (batchcast publish --run R --reason "...")
alter table batchcast.publish_log add column reason text;

-- One row per run: what went in and what came out (shapes in src/store/profiles.ts: InputProfile, OutputProfile).
create table batchcast.run_profiles (
  run_id     bigint primary key references batchcast.runs (run_id) on delete cascade,
  inputs     jsonb not null,
  outputs    jsonb not null,
  created_at timestamptz not null default now()
);

-- A run against its reference (the generation it would replace), or any two runs (batchcast compare).
-- Shape in src/store/profiles.ts: Comparison.
create table batchcast.run_comparisons (
  run_id           bigint not null references batchcast.runs (run_id) on delete cascade,
  reference_run_id bigint not null references batchcast.runs (run_id) on delete cascade,
  comparison       jsonb not null,
  created_at       timestamptz not null default now(),
  primary key (run_id, reference_run_id)
);

-- The gate verdicts of a run: one row per gate evaluated.
create table batchcast.gate_verdicts (
  run_id    bigint not null references batchcast.runs (run_id) on delete cascade,
  gate      text not null,
  kind      text not null check (kind in ('value', 'change')),
  value     double precision,
  threshold double precision not null,
  passed    boolean not null,
  primary key (run_id, gate)
);
