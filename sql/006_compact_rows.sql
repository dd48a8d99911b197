-- Compact rows: a run stores each user's items as int4 indices into the items file
-- (predictions.item_idx) instead of their ids as text (predictions.item_ids): 40 bytes of indices
-- for k = 10 against ~100+ of text. The index -> item id mapping is stored once per items file in
-- batchcast.item_maps, keyed by the sha256 of its id list, and shared by every run that used it.
--
-- Format marker: runs.items_sha256. A run that has one stores item_idx (item_ids is null); a run
-- without one (everything written before this migration) keeps its item_ids and is read as before.
-- Nothing is rewritten here: adding a nullable column and dropping a NOT NULL are catalog-only changes,
-- so this migration takes milliseconds whatever the size of the generations already published.
-- Readers get item ids either way: the view joins the map; one run's rows are read through
-- src/store/run-tables.ts generationSource (SQL) or item-maps.ts (readers that decode indices themselves).

create table batchcast.item_maps (
  -- sha256 (hex) of the items file's ids in index order, one per line (write/item-maps.ts itemsSha256)
  items_sha256 text not null,
  idx          int4 not null,
  item_id      text not null,
  primary key (items_sha256, idx)
);

comment on table batchcast.item_maps is
  'Model item index -> item id, one set of rows per items file (keyed by the sha256 of its ids), shared by the runs that used it (runs.items_sha256).';

-- null: the run stores item ids as text (predictions.item_ids), the format before 006
alter table batchcast.runs add column items_sha256 text;

alter table batchcast.predictions add column item_idx int4[];
alter table batchcast.predictions alter column item_ids drop not null;

-- A run's item indices as item ids, in rank order; an index the map lacks becomes NULL (never dropped,
-- so ranks stay aligned with scores).
create function batchcast.item_ids(items_sha256 text, item_idx int4[]) returns text[]
  language sql stable strict parallel safe
as $$
  select array(select m.item_id
                 from unnest(item_idx) with ordinality as u (idx, n)
                 left join batchcast.item_maps m on m.items_sha256 = $1 and m.idx = u.idx
                order by u.n)
$$;

-- As in 003, with the items of compact runs looked up in the map: one join on the (items_sha256, idx)
-- key (a hash join for a whole day, an index probe per item for one user). Old runs' item_ids pass as before.
create or replace view batchcast.recommendations as
select p.job,
       p.prediction_date,
       x.user_id,
       r.rank::int as rank,
       coalesce(r.item_id, m.item_id) as item_id,
       r.score,
       p.run_id,
       runs.model_version
  from batchcast.published p
  join batchcast.runs runs on runs.run_id = p.run_id
  join batchcast.predictions x on x.job = p.job and x.prediction_date = p.prediction_date and x.run_id = p.run_id + 0
  cross join lateral unnest(x.item_ids, x.item_idx, x.scores) with ordinality as r (item_id, item_idx, score, rank)
  left join batchcast.item_maps m on m.items_sha256 = runs.items_sha256 and m.idx = r.item_idx;

-- whoever reads predictions reads the map (the lookup API decodes a run's rows through it)
select batchcast.copy_read_grants('batchcast.predictions', 'batchcast.item_maps');

-- As in 003, plus the item map.
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
  execute format('grant select on batchcast.published, batchcast.runs, batchcast.predictions, batchcast.recommendations, batchcast.item_maps to %I', reader);
  -- run tables made from now on copy it (copy_read_grants); these are the existing ones
  for t in select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'batchcast.predictions'::regclass loop
    execute format('grant select on %s to %I', t, reader);
  end loop;
end
$$;

revoke all on function batchcast.grant_lookup_access(name) from public;
