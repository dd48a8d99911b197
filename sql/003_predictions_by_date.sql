-- A year of daily runs: batchcast.predictions is partitioned by (job, prediction_date, run_id)
-- instead of run_id alone, so a query that filters job and date (the view, an analyst) prunes to that
-- date's partitions while it is planned: planning no longer reads every generation ever kept (1,000
-- dates: 253 ms before). Each run's table still holds one run (one partition, bounds
-- [(job, date, run_id), (job, date, run_id + 1))), with job and prediction_date fixed by DEFAULT and
-- CHECK like run_id, so ATTACH still skips its validation scan. The lookup API reads a run's own table
-- (batchcast.predictions_r<run_id>) directly, so its cost does not depend on the partitions either.
--
-- Existing partitions are moved under the new parent in this transaction: each gets the two columns
-- (a catalog-only change) and a CHECK, whose validation reads the table once. What was served stays served.
-- Independent of 004 (guardrails): it touches only predictions, the view, the grant helper and adds
-- runs.archived_to.

-- where retention by date archived a run before dropping its table (retention.archive); null otherwise
alter table batchcast.runs add column archived_to text;

drop view batchcast.recommendations;
alter table batchcast.predictions rename to predictions_by_run;
alter index batchcast.predictions_run_user rename to predictions_by_run_run_user;

-- No index on the parent: a unique one would have to hold the partition key (job, date, run_id). Each
-- run's table has its own unique index on (user_id) (the run id is the same on every row). Tables moved
-- here keep their (run_id, user_id) index, which serves the same lookups.
create table batchcast.predictions (
  run_id          bigint not null,
  user_id         text collate "C" not null,
  item_ids        text[] not null,
  scores          real[] not null,
  job             text not null,
  prediction_date date not null
) partition by range (job, prediction_date, run_id);

comment on table batchcast.predictions is
  'One partition per run (batchcast.predictions_r<run_id>), bounds [(job, date, run_id), (job, date, run_id + 1)). Readers reach published rows through batchcast.recommendations, or one run''s rows through its own table.';

-- Roles that may read `source` may read `target` too. The lookup API reads the published run's table by
-- name, so each new run table copies the readers of batchcast.predictions (src/store/run-tables.ts createRunTable).
create function batchcast.copy_read_grants(source regclass, target regclass) returns void
  language plpgsql
as $$
declare
  roles text;
begin
  select string_agg(distinct case when a.grantee = 0 then 'public' else quote_ident(r.rolname) end, ', ')
    into roles
    from pg_class c
   cross join aclexplode(c.relacl) a
    left join pg_roles r on r.oid = a.grantee
   where c.oid = source and a.privilege_type = 'SELECT' and a.grantee <> c.relowner;
  if roles is not null then
    execute format('grant select on %s to %s', target, roles);
  end if;
end
$$;

select batchcast.copy_read_grants('batchcast.predictions_by_run', 'batchcast.predictions');

do $$
declare
  p record;
begin
  for p in
    select i.inhrelid::regclass as t, c.relname, i.inhdetachpending as pending, runs.run_id, runs.job, runs.prediction_date
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      left join batchcast.runs runs on c.relname = 'predictions_r' || runs.run_id
     where i.inhparent = 'batchcast.predictions_by_run'::regclass
     order by c.relname
  loop
    if p.run_id is null then
      raise exception 'partition % of batchcast.predictions has no row in batchcast.runs; detach or drop it by hand, then migrate again', p.t;
    end if;
    if p.pending then
      -- a prune died between DETACH CONCURRENTLY and DROP: finish its work (the run is not published)
      execute format('drop table %s', p.t);
      update batchcast.runs set pruned_at = coalesce(pruned_at, now()) where run_id = p.run_id;
      continue;
    end if;
    execute format('alter table batchcast.predictions_by_run detach partition %s', p.t);
    execute format('alter table %s add column job text not null default %L, add column prediction_date date not null default %L',
                   p.t, p.job, p.prediction_date);
    execute format('alter table %s add constraint %I check (job = %L and prediction_date = %L)',
                   p.t, p.relname || '_date', p.job, p.prediction_date);
    execute format('alter table batchcast.predictions attach partition %s for values from (%L, %L, %s) to (%L, %L, %s)',
                   p.t, p.job, p.prediction_date, p.run_id, p.job, p.prediction_date, p.run_id + 1);
    perform batchcast.copy_read_grants('batchcast.predictions', p.t);
  end loop;
end
$$;

drop table batchcast.predictions_by_run;

-- The view joins on job and date as well as run_id: a filter on job and prediction_date then reaches the
-- partition key through the join (equivalence classes), and the planner keeps only that date's partitions.
-- `p.run_id + 0`, not `p.run_id`: the pointer holds one run id per date, so with 1,000 dates PostgreSQL
-- estimates that 1 in 1,000 of the date's rows match the date's run (no statistics cross tables) and
-- picks a serial plan for a whole-day query (1.7 s against 0.8 s, 200k users). An expression has no
-- statistics, so the estimate no longer depends on the number of dates: the same plan as with one date.
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
  join batchcast.predictions x on x.job = p.job and x.prediction_date = p.prediction_date and x.run_id = p.run_id + 0
  cross join lateral unnest(x.item_ids, x.scores) with ordinality as r (item_id, score, rank);

comment on view batchcast.recommendations is
  'Published generations only: one row per (job, prediction_date, user_id, rank). Filter by job and prediction_date: the planner then reads only that date''s partition.';

select batchcast.copy_read_grants('batchcast.predictions', 'batchcast.recommendations');

-- As in 002, plus each run's table: the lookup API reads the published run's table by name.
create or replace function batchcast.grant_lookup_access(reader name) returns void
  language plpgsql
as $$
declare
  t regclass;
begin
  if not exists (select 1 from pg_roles where rolname = reader) then
    raise exception 'role % does not exist; create it first: create role % login password ''...''', reader, reader;
  end if;
  execute format('grant usage on schema batchcast to %I', reader);
  execute format('grant select on batchcast.published, batchcast.runs, batchcast.predictions, batchcast.recommendations to %I', reader);
  -- run tables made from now on copy it (copy_read_grants); these are the existing ones
  for t in select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'batchcast.predictions'::regclass loop
    execute format('grant select on %s to %I', t, reader);
  end loop;
end
$$;

revoke all on function batchcast.grant_lookup_access(name) from public;

comment on function batchcast.grant_lookup_access(name) is
  'Grants a role read access for the lookup API (USAGE on the schema, SELECT on published, runs, predictions, recommendations and each run''s table). Nothing else.';
