-- pgbench script for bench/load/lookup-bench.ts: the select an app would run on the view for one random user.
\set n random(0, :users - 1)
select item_id, score, rank, run_id, model_version
  from batchcast.recommendations
 where job = :job and prediction_date = :date and user_id = 'u' || :n::int
 order by rank;
