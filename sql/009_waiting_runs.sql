-- A scheduled date whose input files are not there yet waits for them (job schedule.wait_for_data): its
-- ledger row says 'waiting' until the files appear (the row is removed and the run starts) or the
-- timeout passes (the row becomes 'failed', late, exit 7). At most one waiting row per (job, date).
alter table batchcast.runs drop constraint runs_status_check;
alter table batchcast.runs add constraint runs_status_check
  check (status in ('running', 'succeeded', 'failed', 'held', 'shadow', 'waiting'));
create unique index runs_one_waiting on batchcast.runs (job, prediction_date) where status = 'waiting';
