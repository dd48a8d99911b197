-- Gate verdicts say what they are about (the features behind a scale ratio, worst first; an expectation's
-- column, observed value and bound), so the report's banner can name them after the run's own line is gone;
-- and the job's expectations (absolute checks on the inputs) are stored as verdicts of their own kind.
alter table batchcast.gate_verdicts add column detail text;
alter table batchcast.gate_verdicts drop constraint gate_verdicts_kind_check;
alter table batchcast.gate_verdicts add constraint gate_verdicts_kind_check check (kind in ('value', 'change', 'expectation'));
