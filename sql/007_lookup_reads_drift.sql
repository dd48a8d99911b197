-- The lookup API's /metrics shows each job's drift figures, read from run_comparisons and
-- run_profiles; grant_lookup_access (002, 003, 006) did not grant them, so a read-only API showed none.
-- Profiles and comparisons hold aggregates (quantiles, PSI, overlap), never a user's recommendations.
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
  execute format('grant select on batchcast.published, batchcast.runs, batchcast.predictions, batchcast.recommendations, batchcast.item_maps, batchcast.run_profiles, batchcast.run_comparisons to %I', reader);
  -- run tables made from now on copy it (copy_read_grants); these are the existing ones
  for t in select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'batchcast.predictions'::regclass loop
    execute format('grant select on %s to %I', t, reader);
  end loop;
end
$$;

revoke all on function batchcast.grant_lookup_access(name) from public;

comment on function batchcast.grant_lookup_access(name) is
  'Grants a role read access for the lookup API: USAGE on the schema, SELECT on published, runs, predictions (and its run tables), recommendations, item_maps, run_profiles and run_comparisons. Nothing else.';

-- Roles granted before this migration (they can read the map, which only grant_lookup_access grants
-- besides the owner) get the two tables too.
do $$
declare
  r name;
begin
  for r in select rolname from pg_roles
            where not rolsuper and rolname not like 'pg\_%'
              and has_table_privilege(oid, 'batchcast.item_maps', 'select')
              and not pg_has_role(oid, (select relowner from pg_class where oid = 'batchcast.item_maps'::regclass), 'member')
  loop
    execute format('grant select on batchcast.run_profiles, batchcast.run_comparisons to %I', r);
  end loop;
end
$$;

-- The view's planner estimates for the item map (write/item-maps.ts analyzes it after each new map).
analyze batchcast.item_maps;
