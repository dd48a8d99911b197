-- API keys of the lookup API (issue 21). A key is `bck_<key_id>_<secret>`: key_id (12 hex digits) finds
-- the row, and only the SHA-256 of the whole key is kept, so a copy of this table lets nobody in. The
-- secret is 32 random bytes: a fast hash is enough (nothing to brute-force), and costs ~1 us a request.
-- `batchcast keys create|list|revoke` writes it; `serve` re-reads the active keys every auth.keysRefreshMs.
create table batchcast.api_keys (
  key_id                text primary key check (key_id ~ '^[0-9a-f]{12}$'),
  name                  text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  key_sha256            bytea not null check (length(key_sha256) = 32),
  scopes                text[] not null check (cardinality(scopes) > 0 and scopes <@ array['lookup', 'score', 'export', 'metrics']),
  rate_limit_per_second integer check (rate_limit_per_second > 0),
  created_at            timestamptz not null default now(),
  revoked_at            timestamptz
);

-- One active key per name: `keys revoke --name app` names exactly one key.
create unique index api_keys_active_name on batchcast.api_keys (name) where revoked_at is null;

-- The read-only role of the API reads the active keys (their hashes), nothing else of the table's rights.
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
  execute format('grant select on batchcast.published, batchcast.runs, batchcast.predictions, batchcast.recommendations, batchcast.item_maps, batchcast.run_profiles, batchcast.run_comparisons, batchcast.api_keys to %I', reader);
  -- run tables made from now on copy it (copy_read_grants); these are the existing ones
  for t in select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'batchcast.predictions'::regclass loop
    execute format('grant select on %s to %I', t, reader);
  end loop;
end
$$;

revoke all on function batchcast.grant_lookup_access(name) from public;

comment on function batchcast.grant_lookup_access(name) is
  'Grants a role read access for the lookup API: USAGE on the schema, SELECT on published, runs, predictions (and its run tables), recommendations, item_maps, run_profiles, run_comparisons and api_keys. Nothing else.';

-- Roles granted before this migration (as in 007: they can read the item map and do not own it) get the keys too.
do $$
declare
  r name;
begin
  for r in select rolname from pg_roles
            where not rolsuper and rolname not like 'pg\_%'
              and has_table_privilege(oid, 'batchcast.item_maps', 'select')
              and not pg_has_role(oid, (select relowner from pg_class where oid = 'batchcast.item_maps'::regclass), 'member')
  loop
    execute format('grant select on batchcast.api_keys to %I', r);
  end loop;
end
$$;
