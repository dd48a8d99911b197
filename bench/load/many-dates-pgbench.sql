-- pgbench script for bench/experiments/many-dates-bench.ts: an analyst's one-user select on the view, filtered by job,
-- date and user; the user ids are the benchmark dataset's integers 1..users, stored as text.
\set n random(1, :users)
select item_id, score, rank, run_id, model_version
  from batchcast.recommendations
 where job = :job and prediction_date = :date and user_id = :n::text
 order by rank;
