-- 0024_provenance_drv_position.sql: the log position of the StepQueued
-- that queued each derivation first. projections/provenance writes the
-- statements of a batch's builds together, after the batch's other rows:
-- it reads each table as it was at the build's BuildFinished by keeping
-- only rows recorded before it, and this table had no position to tell.
-- Rows written before this migration take 0, as if recorded before any
-- build finished, which they were.
alter table provenance_drvs add column queued_position bigint not null default 0;
