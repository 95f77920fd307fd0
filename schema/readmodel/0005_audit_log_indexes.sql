-- audit_log repeats every event for "who did what" queries by stream and
-- by actor. Its unique event id and its correlation index were read by
-- nothing, yet cost two index entries for every event projected (an
-- evaluation of 100,000 jobs writes 300,000 rows): event ids are unique
-- in the log already, and the primary key (the position) keeps a batch
-- from being applied twice.
alter table audit_log drop constraint audit_log_event_id_key;
drop index audit_log_correlation;
