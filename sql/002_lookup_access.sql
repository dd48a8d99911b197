-- The lookup API (batchcast serve) should connect as a role that can only read. This helper grants such a
-- role exactly what the lookups, /readyz and /metrics read; new run partitions need no grant, because
-- they are only ever read through their parent. Run it as the schema owner after creating the role:
--   create role batchcast_lookup login password '...';
--   select batchcast.grant_lookup_access('batchcast_lookup');
create function batchcast.grant_lookup_access(reader name) returns void
  language plpgsql
as $$
begin
  if not exists (select 1 from pg_roles where rolname = reader) then
    raise exception 'role % does not exist; create it first: create role % login password ''...''', reader, reader;
  end if;
  execute format('grant usage on schema batchcast to %I', reader);
  execute format('grant select on batchcast.published, batchcast.runs, batchcast.predictions, batchcast.recommendations to %I', reader);
end
$$;

revoke all on function batchcast.grant_lookup_access(name) from public;

comment on function batchcast.grant_lookup_access(name) is
  'Grants a role read access for the lookup API (USAGE on the schema, SELECT on published, runs, predictions, recommendations). Nothing else.';
