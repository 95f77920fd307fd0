-- 0012_hydra_notify.sql: Hydra's NOTIFY triggers, and the test that keeps
-- a replay silent.
--
-- Written for buildledger from the channel list of Hydra's hydra.sql; no
-- text is taken from Hydra. projections/hydra sends the channels Hydra's
-- programs send (notify.go).

-- hydraNotifies tells whether the projection's writes reach listeners:
-- only in the live read models, schema "public" (postgres.ReadModelSchema).
-- A replay writes into a scratch schema, which must stay silent, or
-- listeners would hear history again; swapped in, it is "public" and
-- notifies from then on.
create function hydraNotifies() returns boolean as $$
    select current_schema() = 'public'
$$ language sql stable;

-- notifyHydraChannel sends NOTIFY on the channel named by the trigger's
-- argument, with an empty payload, as Hydra's triggers do, when the table
-- is in the live read models (the schema test of hydraNotifies, on the
-- table's own schema: the rows a replay's keys remove are written under
-- the search_path of "public").
create function notifyHydraChannel() returns trigger as $$
begin
    if tg_table_schema = 'public' then
        perform pg_notify(tg_argv[0], '');
    end if;
    return null;
end;
$$ language plpgsql;

-- Hydra's eight trigger channels, on the same changes. The evaluator
-- listens to the jobset ones, the queue runner to the build ones.
create trigger JobsetSharesChanged after update on Jobsets for each row
    when (old.schedulingShares != new.schedulingShares)
    execute function notifyHydraChannel('jobset_shares_changed');
create trigger JobsetsAdded after insert on Jobsets
    for each statement execute function notifyHydraChannel('jobsets_added');
create trigger JobsetsDeleted after delete on Jobsets
    for each statement execute function notifyHydraChannel('jobsets_deleted');
create trigger JobsetSchedulingChanged after update on Jobsets for each row
    when ((old.triggerTime is distinct from new.triggerTime and new.triggerTime is not null)
          or old.checkInterval != new.checkInterval
          or old.enabled != new.enabled)
    execute function notifyHydraChannel('jobset_scheduling_changed');
create trigger BuildsDeleted after delete on Builds
    for each statement execute function notifyHydraChannel('builds_deleted');
create trigger BuildRestarted after update on Builds for each row
    when (old.finished = 1 and new.finished = 0)
    execute function notifyHydraChannel('builds_restarted');
create trigger BuildCancelled after update on Builds for each row
    when (old.finished = 0 and new.finished = 1 and new.buildStatus = 4)
    execute function notifyHydraChannel('builds_cancelled');
create trigger BuildBumped after update on Builds for each row
    when (old.globalPriority != new.globalPriority)
    execute function notifyHydraChannel('builds_bumped');
