-- 0022_builds_job_bytes.sql: a jobset's builds by job name in byte
-- order.
--
-- The jobs tab's HTML shows a jobset's first 250 jobs in byte order (as
-- Hydra sorts them). With this index it reads those jobs' builds alone,
-- in order, whatever the database's collation, instead of every build of
-- the newest evaluations. A replay builds it at the end, with the other
-- indexes of Hydra's pages (hydra.Projection.DeferrableIndexes).
create index IndexBuildsOnJobsetIdJobC on Builds (jobset_id, job collate "C");
