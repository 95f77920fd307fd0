-- 0018_hydra_notify_reactor.sql: Hydra's NOTIFY channels leave the read
-- models.
--
-- The triggers of 0012 notified on every write to the live read models,
-- so a rebuild of them in place (a fresh read-model database projected
-- from an old log) announced history again. The channels are now sent by
-- the pgnotify reactor (commands/reactors/pgnotify), from live events
-- only; the read models send nothing.

drop trigger JobsetSharesChanged on Jobsets;
drop trigger JobsetsAdded on Jobsets;
drop trigger JobsetsDeleted on Jobsets;
drop trigger JobsetSchedulingChanged on Jobsets;
drop trigger BuildsDeleted on Builds;
drop trigger BuildRestarted on Builds;
drop trigger BuildCancelled on Builds;
drop trigger BuildBumped on Builds;
drop function notifyHydraChannel();
drop function hydraNotifies();
