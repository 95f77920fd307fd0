-- 0004_insights.sql: answers Hydra cannot give (projection "insights").
-- Conventions as in 0002_ledger.sql. Queries that need the build graph
-- also read build_graph_edges, steps and step_attempts (projection
-- "ledger").

-- Every build with what the insights need: its top derivation, and for a
-- failed one the derivation (and build) its failure came from.
create table insight_builds (
    build_id        integer primary key,
    eval_id         integer not null,
    project         text not null,
    jobset          text not null,
    job             text not null,
    system          text not null,
    drv_path        text not null,
    queued_at       timestamptz not null,
    finished_at     timestamptz,
    status          integer,            -- Hydra status; null while queued
    failed_drv      text,               -- for status 2: the step that failed
    propagated_from integer             -- for status 2: the build whose step failed
);

create index insight_builds_drv on insight_builds (drv_path);
create index insight_builds_unfinished on insight_builds (build_id) where finished_at is null;

-- Build machines as last configured. Fed by MachineRegistered,
-- MachineUpdated, MachineRemoved.
create table insight_machines (
    name               text primary key,
    systems            text[] not null,
    supported_features text[] not null default '{}',
    mandatory_features text[] not null default '{}',
    max_jobs           integer not null,
    enabled            boolean not null,
    removed            boolean not null default false
);

-- Every finished attempt of every step, as the insights judge it.
create table insight_step_results (
    drv_path  text not null,
    attempt   integer not null,
    status    integer not null,
    machine   text not null,
    build_id  integer,
    step_nr   integer,
    stop_time bigint not null,
    primary key (drv_path, attempt)
);

-- Flaky steps: the same derivation (so the same inputs: a .drv path is the
-- hash of everything it is built from) failed with a build failure
-- (status 1, 6 or 7) and later succeeded on a retry.
create table insight_flaky_steps (
    drv_path          text primary key,
    failed_attempts   integer not null,
    first_failed      integer not null,   -- attempt number
    first_failed_status integer not null,
    succeeded_attempt integer not null,
    machines          text[] not null,    -- machines of the failed and the successful attempts
    detected_at       timestamptz not null
);

-- Every NAR hash seen per output of a derivation.
create table insight_output_hashes (
    drv_path   text not null,
    path       text not null,
    nar_hash   text not null,
    build_id   integer not null,
    first_seen timestamptz not null,
    primary key (drv_path, path, nar_hash)
);

-- Non-reproducible outputs: the same derivation output was uploaded with
-- more than one NAR hash.
create table insight_nonrepro_outputs (
    drv_path    text not null,
    path        text not null,
    nar_hashes  text[] not null,        -- in order of first sighting
    build_ids   integer[] not null,     -- the build of each hash's first sighting
    detected_at timestamptz not null,
    primary key (drv_path, path)
);

-- Timing of each evaluation: when it was requested (the latest request of
-- its jobset before it started), started, fetched its inputs, finished.
create table insight_eval_times (
    eval_id          integer primary key,
    project          text not null,
    jobset           text not null,
    requested_at     timestamptz,
    started_at       timestamptz not null,
    inputs_fetched_at timestamptz,
    finished_at      timestamptz,
    outcome          text not null default 'running'  -- running, finished, cached, failed
);

create index insight_eval_times_jobset on insight_eval_times (project, jobset, eval_id);

-- The latest evaluation request per jobset not yet picked up by an
-- evaluation.
create table insight_eval_requests (
    project      text not null,
    jobset       text not null,
    requested_at timestamptz not null,
    primary key (project, jobset)
);

-- Time from request (or input fetch) to finished evaluation per jobset.
create view insight_eval_latency as
select project, jobset,
       count(*) as evals,
       avg(extract(epoch from finished_at - coalesce(requested_at, started_at))) as avg_request_to_finish_s,
       max(extract(epoch from finished_at - coalesce(requested_at, started_at))) as max_request_to_finish_s,
       avg(extract(epoch from finished_at - started_at)) as avg_eval_s,
       avg(extract(epoch from finished_at - inputs_fetched_at)) as avg_fetch_to_finish_s,
       max(finished_at) as last_finished_at
from insight_eval_times
where finished_at is not null
group by project, jobset;
