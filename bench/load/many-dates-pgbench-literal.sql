-- The same select as many-dates-pgbench.sql with the values written into the text (run with -M simple):
-- what psql, notebooks and most BI tools send, planned afresh every time.
\set n random(1, :users)
select item_id, score, rank, run_id, model_version
  from batchcast.recommendations
 where job = ':job' and prediction_date = ':date' and user_id = ':n'
 order by rank;
