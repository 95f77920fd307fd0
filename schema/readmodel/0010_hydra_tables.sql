-- 0010_hydra_tables.sql: the rest of Hydra's schema version 87.
--
-- The tables 0001 left out, so that every table, column and index of
-- Hydra's hydra.sql exists: the pg_trgm index Hydra's search uses too,
-- when the database has the extension.
-- Written for buildledger from the published column list; no text is taken
-- from Hydra. docs/schema.md says which of these tables a projection fills.

-- Tables ----------------------------------------------------------------------

-- Per-build copies of the evaluation's inputs. Hydra stopped writing them
-- in 2014 (JobsetEvalInputs holds them per evaluation), so they stay empty.
create table BuildInputs (
    id               serial primary key not null,
    build            integer,
    name             text not null,
    type             text not null,
    uri              text,
    revision         text,
    value            text,
    emailResponsible integer not null default 0,
    dependency       integer,  -- for "build" inputs: the build providing it
    path             text,
    sha256hash       text,
    foreign key (build) references Builds (id) on delete cascade,
    foreign key (dependency) references Builds (id)
);

-- RunCommand runs (#22): queued, then started, then ended.
create table RunCommandLogs (
    id           serial primary key not null,
    uuid         uuid not null,
    job_matcher  text not null,
    build_id     integer not null,
    command      text not null,
    start_time   integer,
    end_time     integer,
    error_number integer,
    exit_code    integer,
    signal       integer,
    core_dumped  boolean,
    foreign key (build_id) references Builds (id) on delete cascade,
    -- Nothing but the start is known of a run not started yet.
    constraint RunCommandLogs_not_started_no_exit_time_no_code check (
        start_time is not null
        or (end_time is null and error_number is null and exit_code is null and signal is null and core_dumped is null)),
    constraint RunCommandLogs_end_time_has_start_time check (end_time is null or start_time is not null),
    constraint RunCommandLogs_uuid_unique unique (uuid)
);

-- Notifications a plugin failed to handle, to try again at retry_at (#22).
create table TaskRetries (
    id         serial primary key not null,
    channel    text not null,
    pluginname text not null,
    payload    text not null,
    attempts   integer not null,
    retry_at   integer not null
);

-- Hydra's old C++ queue runner dumped its status here; status is JSON.
create table SystemStatus (
    what   text primary key not null,
    status json not null
);

-- Rewrites of input URIs for links to a repository's web view.
create table UriRevMapper (
    baseuri text not null,
    uri     text not null,
    primary key (baseuri)
);

-- The caches of Hydra's other input fetchers.
create table CachedSubversionInputs (
    uri        text not null,
    revision   integer not null,
    sha256hash text not null,
    storePath  text not null,
    primary key (uri, revision)
);

create table CachedBazaarInputs (
    uri        text not null,
    revision   integer not null,
    sha256hash text not null,
    storePath  text not null,
    primary key (uri, revision)
);

create table CachedDarcsInputs (
    uri        text not null,
    revision   text not null,
    sha256hash text not null,
    storePath  text not null,
    revCount   integer not null,
    primary key (uri, revision)
);

create table CachedHgInputs (
    uri        text not null,
    branch     text not null,
    revision   text not null,
    sha256hash text not null,
    storePath  text not null,
    primary key (uri, branch, revision)
);

create table CachedCVSInputs (
    uri        text not null,
    module     text not null,
    timestamp  integer not null,  -- when the module was first seen with this hash
    lastSeen   integer not null,
    sha256hash text not null,
    storePath  text not null,
    primary key (uri, module, sha256hash)
);

-- Indexes (Hydra's names) -------------------------------------------------------

create index IndexBuildInputsOnBuild on BuildInputs (build);
create index IndexBuildInputsOnDependency on BuildInputs (dependency);
create index IndexBuildProductsOnBuild on BuildProducts (build);
create index IndexCachedHgInputsOnHash on CachedHgInputs (uri, branch, sha256hash);
create index IndexCachedGitInputsOnHash on CachedGitInputs (uri, branch, sha256hash);
create index IndexCachedSubversionInputsOnUriRevision on CachedSubversionInputs (uri, revision);
create index IndexCachedBazaarInputsOnUriRevision on CachedBazaarInputs (uri, revision);
create index IndexJobsetInputAltsOnInput on JobsetInputAlts (project, jobset, input);
create index IndexJobsetInputAltsOnJobset on JobsetInputAlts (project, jobset);
create index IndexProjectsOnEnabled on Projects (enabled);
create index IndexTaskRetriesOrdered on TaskRetries (retry_at asc);
create index IndexRunCommandLogsOnBuildID on RunCommandLogs (build_id);

-- Hydra's trigram index for searches of partial derivation paths. Only a
-- superuser may create the pg_trgm extension: Bootstrap creates it, in
-- schema "extensions" (not in "public", which a replay renames away). On a
-- database without it the index is left out with a warning; a replay
-- builds it once the extension exists.
do $$
declare
    ext name := (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm');
begin
    if ext is null then
        raise warning 'pg_trgm is not installed: IndexTrgmBuildsOnDrvpath left out (run migrate --bootstrap as a superuser, then replay)';
    else
        execute format('create index IndexTrgmBuildsOnDrvpath on Builds using gin (drvPath %I.gin_trgm_ops)', ext);
    end if;
end $$;
