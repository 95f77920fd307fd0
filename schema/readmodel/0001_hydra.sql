-- 0001_hydra.sql: the Hydra read models.
--
-- These tables reproduce NixOS Hydra's schema (hydra.sql, schema version 87)
-- for the tables buildledger projects: same table and column names (written
-- unquoted, so Postgres folds them to lowercase exactly as Hydra's SQL
-- expects), same types, defaults, keys, cascade rules, CHECK constraints and
-- the indexes Hydra's queries rely on. SQL written for Hydra runs unchanged.
--
-- Written for buildledger from the published column list; no text is taken
-- from Hydra.
--
-- The runner applies this file inside one transaction after
-- SET LOCAL search_path TO <target schema>, so nothing here names a schema
-- and nothing depends on objects outside the target schema.
--
-- Ids: the serial columns (Jobsets.id, JobsetEvals.id, EvaluationErrors.id,
-- Builds.id, NewsItems.id) keep Hydra's serial type, but the projections
-- always insert the ids that the event-sourced commands allocated (events
-- IDsReserved, JobsetCreated.id, EvaluationStarted.evalId,
-- BuildQueued.buildId). The sequences are never consulted by buildledger.
--
-- Not here: the tables buildledger does not project (BuildInputs,
-- SystemStatus, TaskRetries, RunCommandLogs, UriRevMapper and the
-- Hg/Svn/Bzr/Darcs/CVS input caches) and the optional pg_trgm index, which
-- 0010_hydra_tables.sql adds, and Hydra's NOTIFY triggers, which
-- 0012_hydra_notify.sql adds.

create table SchemaVersion (
    version integer not null
);

-- Hydra tools read the schema version; claim the one these tables match.
insert into SchemaVersion (version) values (87);

-- Configuration ------------------------------------------------------------

create table Users (
    userName        text primary key not null,
    fullName        text,
    emailAddress    text not null,
    password        text not null,           -- argon2id PHC string
    emailOnError    integer not null default 0,
    type            text not null default 'hydra',
    publicDashboard boolean not null default false
);

create table UserRoles (
    userName text not null,
    role     text not null,  -- admin, create-projects, restart-jobs, bump-to-front, cancel-build, eval-jobset
    primary key (userName, role),
    foreign key (userName) references Users (userName) on delete cascade on update cascade
);

create table Projects (
    name          text primary key not null,  -- the project's identifier
    displayName   text not null,
    description   text,
    enabled       integer not null default 1,
    hidden        integer not null default 0,
    owner         text not null,
    homepage      text,
    declfile      text,  -- declarative projects: spec file,
    decltype      text,  --   its input type
    declvalue     text,  --   and its input value
    enable_dynamic_run_command boolean not null default false,
    foreign key (owner) references Users (userName) on update cascade
);

create table ProjectMembers (
    project  text not null,
    userName text not null,
    primary key (project, userName),
    foreign key (project) references Projects (name) on delete cascade on update cascade,
    foreign key (userName) references Users (userName) on delete cascade on update cascade
);

create table Jobsets (
    name             text not null,
    id               serial not null,
    project          text not null,
    description      text,
    nixExprInput     text,     -- legacy jobsets: input holding the expression
    nixExprPath      text,     -- legacy jobsets: path of the expression in it
    errorMsg         text,     -- last evaluation error
    errorTime        integer,  -- when errorMsg was set
    lastCheckedTime  integer,  -- last time the evaluator looked at the jobset
    triggerTime      integer,  -- set when an evaluation was requested
    enabled          integer not null default 1,  -- 0 off, 1 on, 2 one-shot, 3 one-at-a-time
    enableEmail      integer not null default 1,
    enable_dynamic_run_command boolean not null default false,
    hidden           integer not null default 0,
    emailOverride    text not null,
    keepnr           integer not null default 3,
    checkInterval    integer not null default 300,  -- seconds between polls, 0 = never poll
    schedulingShares integer not null default 100,
    fetchErrorMsg    text,
    forceEval        boolean,
    startTime        integer,  -- set while an evaluation runs
    type             integer not null default 0,  -- 0 legacy, 1 flake
    flake            text,
    constraint jobsets_schedulingshares_nonzero_check check (schedulingShares > 0),
    constraint jobsets_type_known_check check (type = 0 or type = 1),
    constraint jobsets_legacy_paths_check
        check ((type = 0) = (nixExprInput is not null and nixExprPath is not null and flake is null)),
    constraint jobsets_flake_paths_check
        check ((type = 1) = (nixExprInput is null and nixExprPath is null and flake is not null)),
    primary key (project, name),
    foreign key (project) references Projects (name) on delete cascade on update cascade,
    constraint Jobsets_id_unique unique (id)
);

-- Old jobset names, so their URLs keep working.
create table JobsetRenames (
    project text not null,
    from_   text not null,
    to_     text not null,
    primary key (project, from_),
    foreign key (project) references Projects (name) on delete cascade on update cascade,
    foreign key (project, to_) references Jobsets (project, name) on delete cascade on update cascade
);

create table JobsetInputs (
    project          text not null,
    jobset           text not null,
    name             text not null,
    type             text not null,  -- git, path, string, boolean, nix, build, eval, ...
    emailResponsible integer not null default 0,
    primary key (project, jobset, name),
    foreign key (project, jobset) references Jobsets (project, name) on delete cascade on update cascade
);

-- Exactly one alternative (altnr 0) per input nowadays.
create table JobsetInputAlts (
    project  text not null,
    jobset   text not null,
    input    text not null,
    altnr    integer not null,
    value    text,
    revision text,
    primary key (project, jobset, input, altnr),
    foreign key (project, jobset, input) references JobsetInputs (project, jobset, name)
        on delete cascade on update cascade
);

create table NewsItems (
    id         serial primary key not null,
    contents   text not null,
    createTime integer not null,
    author     text not null,
    foreign key (author) references Users (userName) on delete cascade on update cascade
);

-- Evaluations -----------------------------------------------------------------

create table EvaluationErrors (
    id        serial primary key not null,
    errorMsg  text,     -- accumulated per-job evaluation errors
    errorTime integer
);

create table JobsetEvals (
    id                 serial primary key not null,
    jobset_id          integer not null,
    evaluationerror_id integer null,
    timestamp          integer not null,  -- when the evaluation finished
    checkoutTime       integer not null,  -- seconds spent fetching inputs
    evalTime           integer not null,  -- seconds spent evaluating
    hasNewBuilds       integer not null,
    hash               text not null,     -- identifies the evaluation's inputs
    nrBuilds           integer,           -- cached once every build finished
    nrSucceeded        integer,
    flake              text,              -- locked flake reference
    nixExprInput       text,
    nixExprPath        text,
    foreign key (jobset_id) references Jobsets (id) on delete cascade,
    foreign key (evaluationerror_id) references EvaluationErrors (id) on delete set null
);

-- Builds --------------------------------------------------------------------

create table Builds (
    id             serial primary key not null,
    finished       integer not null,  -- 0 queued, 1 done
    timestamp      integer not null,  -- when the build was created
    jobset_id      integer not null,
    job            text not null,
    nixName        text,
    description    text,
    drvPath        text not null,
    system         text not null,
    license        text,
    homepage       text,
    maintainers    text,
    maxsilent      integer default 3600,
    timeout        integer default 36000,
    isChannel      integer not null default 0,
    isCurrent      integer default 0,
    priority       integer not null default 0,
    globalPriority integer not null default 0,
    startTime      integer,
    stopTime       integer,
    isCachedBuild  integer,
    buildStatus    integer,  -- see docs/schema.md and Hydra's status codes
    size           bigint,
    closureSize    bigint,
    releaseName    text,
    keep           integer not null default 0,
    notificationPendingSince integer,
    check (finished = 0 or (stopTime is not null and stopTime != 0)),
    check (finished = 0 or (startTime is not null and startTime != 0)),
    foreign key (jobset_id) references Jobsets (id) on delete cascade
);

create table JobsetEvalInputs (
    eval           integer not null,
    name           text not null,
    altNr          integer not null,
    type           text not null,
    uri            text,
    revision       text,
    value          text,
    dependency     integer,  -- for "build" inputs: the build providing it
    path           text,
    sha256hash     text,
    shortRevLength smallint,
    primary key (eval, name, altNr),
    foreign key (eval) references JobsetEvals (id) on delete cascade,
    foreign key (dependency) references Builds (id)
);

create table JobsetEvalMembers (
    eval  integer not null,
    build integer not null,
    isNew integer not null,
    primary key (eval, build),
    foreign key (eval) references JobsetEvals (id) on delete cascade,
    foreign key (build) references Builds (id) on delete cascade
);

create table AggregateConstituents (
    aggregate   integer not null,
    constituent integer not null,
    primary key (aggregate, constituent),
    foreign key (aggregate) references Builds (id) on delete cascade,
    foreign key (constituent) references Builds (id) on delete cascade
);

create table BuildOutputs (
    build integer not null,
    name  text not null,
    path  text,  -- null for a floating content-addressed output not built yet
    primary key (build, name),
    foreign key (build) references Builds (id) on delete cascade
);

create table BuildSteps (
    build              integer not null,
    stepnr             integer not null,
    type               integer not null,  -- 0 build, 1 substitution
    drvPath            text not null,
    busy               integer not null,  -- 0 idle, 1..50 phase of a running step
    status             integer,           -- null while busy
    errorMsg           text,
    startTime          integer,
    stopTime           integer,
    machine            text not null default '',
    system             text,
    propagatedFrom     integer,  -- build whose step failed first
    overhead           integer,  -- milliseconds spent copying
    timesBuilt         integer,
    isNonDeterministic boolean,
    resolvedDrvPath    text,     -- content-addressed: the drv this one resolved to
    primary key (build, stepnr),
    foreign key (build) references Builds (id) on delete cascade,
    foreign key (propagatedFrom) references Builds (id) on delete cascade,
    constraint isResolved check ((status = 13) = (resolvedDrvPath is not null))
);

create table BuildStepOutputs (
    build  integer not null,
    stepnr integer not null,
    name   text not null,
    path   text,
    primary key (build, stepnr, name),
    foreign key (build) references Builds (id) on delete cascade,
    foreign key (build, stepnr) references BuildSteps (build, stepnr) on delete cascade
);

create table BuildProducts (
    build       integer not null,
    productnr   integer not null,  -- 1-based
    type        text not null,
    subtype     text not null,
    fileSize    bigint,
    sha256hash  text,  -- hex
    path        text,
    name        text not null,
    defaultPath text,
    primary key (build, productnr),
    foreign key (build) references Builds (id) on delete cascade
);

-- project, jobset, job and timestamp are copied from the build so metric
-- history queries need no join. 0011_buildmetrics_keys.sql replaces the
-- two foreign keys on the copied names with Hydra's, which cascade on
-- update only.
create table BuildMetrics (
    build     integer not null,
    name      text not null,
    unit      text,
    value     double precision not null,
    project   text not null,
    jobset    text not null,
    job       text not null,
    timestamp integer not null,
    primary key (build, name),
    foreign key (build) references Builds (id) on delete cascade,
    foreign key (project) references Projects (name) on delete cascade on update cascade,
    foreign key (project, jobset) references Jobsets (project, name) on delete cascade on update cascade
);

-- Output paths that failed permanently: a later step producing one is a
-- cached failure.
create table FailedPaths (
    path text primary key not null
);

-- As in Hydra, inserting a path that is already there does nothing, so
-- plain INSERTs written for Hydra keep working. The projector nevertheless
-- writes
--     insert into FailedPaths (path) ... on conflict do nothing
-- because the rule only sees rows that existed before the statement (a batch
-- with the same path twice would still hit the primary key) and COPY
-- ignores rules. Postgres accepts ON CONFLICT together with this
-- conditional DO INSTEAD NOTHING rule (checked on 15).
create rule IdempotentInsert as on insert to FailedPaths
    where exists (select 1 from FailedPaths where path = new.path)
    do instead nothing;

-- Counters --------------------------------------------------------------------

-- Row 'finished' counts the finished builds. It is kept up to date by the
-- triggers NrBuildsFinished* below, as in Hydra (+1 when a build is inserted
-- finished or goes 0 -> 1, -1 when a finished build is deleted or restarted
-- 1 -> 0), so a projection never maintains it by hand and a replay yields
-- the same count.
create table NrBuilds (
    what  text primary key not null,
    count integer not null
);

insert into NrBuilds (what, count) values ('finished', 0);

-- The function updates the NrBuilds table of the schema the changed Builds
-- row lives in (TG_TABLE_SCHEMA), so it works whatever the session's
-- search_path is and survives a schema rename (replay swaps schemas).
-- Statement-level triggers with transition tables: one update of the
-- counter per statement instead of one per row, so bulk writes (a replay
-- finishing thousands of builds at once) don't pile up row versions of the
-- single NrBuilds row. The count is the same as Hydra's row trigger gives.
create function modifyNrBuildsFinished() returns trigger as $$
declare
    delta bigint := 0;
begin
    if tg_op = 'INSERT' then
        select count(*) into delta from new_rows where finished = 1;
    elsif tg_op = 'UPDATE' then
        -- old_rows and new_rows hold the same builds, so the change is a
        -- difference of counts (no join: transition tables have no index).
        select (select count(*) from new_rows where finished = 1) - (select count(*) from old_rows where finished = 1)
          into delta;
    elsif tg_op = 'DELETE' then
        select -count(*) into delta from old_rows where finished = 1;
    end if;
    if delta != 0 then
        execute format('update %I.NrBuilds set count = count + $1 where what = ''finished''', tg_table_schema)
            using delta;
    end if;
    return null;
end;
$$ language plpgsql;

create trigger NrBuildsFinishedInsert after insert on Builds
    referencing new table as new_rows
    for each statement execute function modifyNrBuildsFinished();
create trigger NrBuildsFinishedUpdate after update on Builds
    referencing old table as old_rows new table as new_rows
    for each statement execute function modifyNrBuildsFinished();
create trigger NrBuildsFinishedDelete after delete on Builds
    referencing old table as old_rows
    for each statement execute function modifyNrBuildsFinished();

-- Personal and cache tables ---------------------------------------------------

create table StarredJobs (
    userName text not null,
    project  text not null,
    jobset   text not null,
    job      text not null,
    primary key (userName, project, jobset, job),
    foreign key (userName) references Users (userName) on update cascade on delete cascade,
    foreign key (project) references Projects (name) on update cascade on delete cascade,
    foreign key (project, jobset) references Jobsets (project, name) on update cascade on delete cascade
);

create table CachedPathInputs (
    srcPath    text not null,
    timestamp  integer not null,  -- when the path was first seen with this hash
    lastSeen   integer not null,
    sha256hash text not null,
    storePath  text not null,
    primary key (srcPath, sha256hash)
);

create table CachedGitInputs (
    uri         text not null,
    branch      text not null,
    revision    text not null,
    isDeepClone boolean not null,
    sha256hash  text not null,
    storePath   text not null,
    primary key (uri, branch, revision, isDeepClone)
);

-- Indexes (Hydra's names) -----------------------------------------------------

-- Queue runner.
create index IndexBuildsOnFinished on Builds (finished) where finished = 0;
create index IndexBuildStepsOnBusy on BuildSteps (busy) where busy != 0;
create index IndexBuildsOnDrvPath on Builds (drvPath);
create index IndexBuildStepsOnDrvPath on BuildSteps (drvPath);
create index IndexBuildStepOutputsOnPath on BuildStepOutputs (path);
create index IndexBuildOutputsPath on BuildOutputs using hash (path);
create index IndexBuildsOnNotificationPendingSince on Builds (notificationPendingSince)
    where notificationPendingSince is not null;
create index IndexBuildsOnKeep on Builds (keep) where keep = 1;

-- Jobset, job and eval pages.
create index IndexBuildsOnIsCurrent on Builds (isCurrent) where isCurrent = 1;
create index IndexBuildsJobsetIdCurrentUnfinished on Builds (jobset_id)
    where isCurrent = 1 and finished = 0;
create index IndexBuildsJobsetIdCurrentFinishedStatus on Builds (jobset_id, buildStatus)
    where isCurrent = 1 and finished = 1;
create index IndexBuildsJobsetIdCurrent on Builds (jobset_id) where isCurrent = 1;
create index IndexBuildsOnJobsetIdFinishedId on Builds (jobset_id, job, finished, id desc);
create index IndexFinishedSuccessfulBuilds on Builds (jobset_id, job, finished, buildStatus, id desc)
    where buildStatus = 0 and finished = 1;
create index IndexBuildsOnFinishedStopTime on Builds (finished, stopTime desc);
create index IndexBuildsOnTimestamp on Builds (timestamp);
create index IndexJobsetEvalsOnJobsetId on JobsetEvals (jobset_id, id desc) where hasNewBuilds = 1;
create index IndexJobsetIdEvals on JobsetEvals (jobset_id) where hasNewBuilds = 1;
create index IndexJobsetEvalMembersOnBuild on JobsetEvalMembers (build);
create index IndexJobsetEvalMembersOnEval on JobsetEvalMembers (eval);
create index IndexBuildStepsOnStopTime on BuildSteps (stopTime desc)
    where startTime is not null and stopTime is not null;
create index IndexBuildStepsOnPropagatedFrom on BuildSteps (propagatedFrom)
    where propagatedFrom is not null;
create index IndexBuildMetricsOnJobTimestamp on BuildMetrics (project, jobset, job, timestamp desc);
create index IndexBuildProducstOnBuildAndType on BuildProducts (build, type);  -- sic, Hydra's spelling

-- buildledger addition: deleting a build cascades through constituent.
create index IndexAggregateConstituentsOnConstituent on AggregateConstituents (constituent);
