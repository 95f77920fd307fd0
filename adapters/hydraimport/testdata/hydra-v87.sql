-- Hydra's tables that `import hydra` reads, as Hydra's schema version 87
-- defines them: generated from NixOS/hydra subprojects/hydra/sql/hydra.sql
-- at commit 14332fbf (the create table statements of these tables only,
-- with comments, triggers, functions and indexes left out). A fixture for
-- the import's tests: the column names, types, defaults and constraints are
-- the facts the importer is written against.

create table SchemaVersion (
    version       integer not null
);

create table Users (
    userName      text primary key not null,
    fullName      text,
    emailAddress  text not null,
    password      text not null,
    emailOnError  integer not null default 0,
    type          text not null default 'hydra',
    publicDashboard boolean not null default false
);

create table UserRoles (
    userName      text not null,
    role          text not null,
    primary key   (userName, role),
    foreign key   (userName) references Users(userName) on delete cascade on update cascade
);

create table Projects (
    name          text primary key not null,
    displayName   text not null,
    description   text,
    enabled       integer not null default 1,
    hidden        integer not null default 0,
    owner         text not null,
    homepage      text,
    declfile      text,
    decltype      text,
    declvalue     text,
    enable_dynamic_run_command boolean not null default false,
    foreign key   (owner) references Users(userName) on update cascade
);

create table ProjectMembers (
    project       text not null,
    userName      text not null,
    primary key   (project, userName),
    foreign key   (project) references Projects(name) on delete cascade on update cascade,
    foreign key   (userName) references Users(userName) on delete cascade on update cascade
);

create table Jobsets (
    name          text not null,
    id            serial not null,
    project       text not null,
    description   text,
    nixExprInput  text,
    nixExprPath   text,
    errorMsg      text,
    errorTime     integer,
    lastCheckedTime integer,
    triggerTime   integer,
    enabled       integer not null default 1,
    enableEmail   integer not null default 1,
    hidden        integer not null default 0,
    emailOverride text not null,
    keepnr        integer not null default 3,
    checkInterval integer not null default 300,
    schedulingShares integer not null default 100,
    fetchErrorMsg text,
    forceEval     boolean,
    startTime     integer,
    type          integer not null default 0,
    flake         text,
    enable_dynamic_run_command boolean not null default false,
    constraint jobsets_schedulingshares_nonzero_check check (schedulingShares > 0),
    constraint jobsets_type_known_check   check (type = 0 or type = 1),
    constraint jobsets_legacy_paths_check check ((type = 0) = (nixExprInput is not null and nixExprPath is not null and flake is     null)),
    constraint jobsets_flake_paths_check  check ((type = 1) = (nixExprInput is     null and nixExprPath is     null and flake is not null)),
    primary key   (project, name),
    foreign key   (project) references Projects(name) on delete cascade on update cascade,
    constraint    Jobsets_id_unique UNIQUE(id)
);

create table JobsetRenames (
    project       text not null,
    from_         text not null,
    to_           text not null,
    primary key   (project, from_),
    foreign key   (project) references Projects(name) on delete cascade on update cascade,
    foreign key   (project, to_) references Jobsets(project, name) on delete cascade on update cascade
);

create table JobsetInputs (
    project       text not null,
    jobset        text not null,
    name          text not null,
    type          text not null,
    emailResponsible integer not null default 0,
    primary key   (project, jobset, name),
    foreign key   (project, jobset) references Jobsets(project, name) on delete cascade on update cascade
);

create table JobsetInputAlts (
    project       text not null,
    jobset        text not null,
    input         text not null,
    altnr         integer not null,
    value         text,
    revision      text,
    primary key   (project, jobset, input, altnr),
    foreign key   (project, jobset, input) references JobsetInputs(project, jobset, name) on delete cascade on update cascade
);

create table Builds (
    id            serial primary key not null,
    finished      integer not null,
    timestamp     integer not null,
    jobset_id     integer not null,
    job           text not null,
    nixName       text,
    description   text,
    drvPath       text not null,
    system        text not null,
    license       text,
    homepage      text,
    maintainers   text,
    maxsilent     integer default 3600,
    timeout       integer default 36000,
    isChannel     integer not null default 0,
    isCurrent     integer default 0,
    priority      integer not null default 0,
    globalPriority integer not null default 0,
    startTime     integer,
    stopTime      integer,
    isCachedBuild integer,
    buildStatus   integer,
    size          bigint,
    closureSize   bigint,
    releaseName   text,
    keep          integer not null default 0,
    notificationPendingSince integer,
    check (finished = 0 or (stoptime is not null and stoptime != 0)),
    check (finished = 0 or (starttime is not null and starttime != 0)),
    foreign key (jobset_id) references Jobsets(id) on delete cascade
);

create table BuildOutputs (
    build         integer not null,
    name          text not null,
    path          text,
    primary key   (build, name),
    foreign key   (build) references Builds(id) on delete cascade
);

create table BuildSteps (
    build         integer not null,
    stepnr        integer not null,
    type          integer not null,
    drvPath       text not null,
    busy          integer not null,
    status        integer,
    errorMsg      text,
    startTime     integer,
    stopTime      integer,
    machine       text not null default '',
    system        text,
    propagatedFrom integer,
    overhead      integer,
    timesBuilt    integer,
    isNonDeterministic boolean,
    resolvedDrvPath  text,
    primary key   (build, stepnr),
    foreign key   (build) references Builds(id) on delete cascade,
    foreign key   (propagatedFrom) references Builds(id) on delete cascade,
    check ((status = 13) = (resolvedDrvPath is not null))
);

create table BuildStepOutputs (
    build         integer not null,
    stepnr        integer not null,
    name          text not null,
    path          text,
    primary key   (build, stepnr, name),
    foreign key   (build) references Builds(id) on delete cascade,
    foreign key   (build, stepnr) references BuildSteps(build, stepnr) on delete cascade
);

create table BuildProducts (
    build         integer not null,
    productnr     integer not null,
    type          text not null,
    subtype       text not null,
    fileSize      bigint,
    sha256hash    text,
    path          text,
    name          text not null,
    defaultPath   text,
    primary key   (build, productnr),
    foreign key   (build) references Builds(id) on delete cascade
);

create table BuildMetrics (
    build         integer not null,
    name          text not null,
    unit          text,
    value         double precision not null,
    project       text not null,
    jobset        text not null,
    job           text not null,
    timestamp     integer not null,
    primary key   (build, name),
    foreign key   (build) references Builds(id) on delete cascade,
    foreign key   (project) references Projects(name) on update cascade,
    foreign key   (project, jobset) references Jobsets(project, name) on update cascade
);

create table EvaluationErrors (
    id            serial primary key not null,
    errorMsg      text,
    errorTime     integer
);

create table JobsetEvals (
    id            serial primary key not null,
    jobset_id     integer not null,
    evaluationerror_id integer,
    timestamp     integer not null,
    checkoutTime  integer not null,
    evalTime      integer not null,
    hasNewBuilds  integer not null,
    hash          text not null,
    nrBuilds      integer,
    nrSucceeded   integer,
    flake         text,
    nixExprInput  text,
    nixExprPath   text,
    foreign key   (jobset_id) references Jobsets(id) on delete cascade,
    foreign key   (evaluationerror_id) references EvaluationErrors(id) on delete set null
);

create table JobsetEvalInputs (
    eval          integer not null references JobsetEvals(id) on delete cascade,
    name          text not null,
    altNr         integer not null,
    type           text not null,
    uri            text,
    revision       text,
    shortRevLength smallint,
    value          text,
    dependency     integer,
    path          text,
    sha256hash    text,
    primary key   (eval, name, altNr),
    foreign key   (dependency) references Builds(id)
);

create table JobsetEvalMembers (
    eval          integer not null references JobsetEvals(id) on delete cascade,
    build         integer not null references Builds(id) on delete cascade,
    isNew         integer not null,
    primary key   (eval, build)
);

create table NewsItems (
    id            serial primary key not null,
    contents      text not null,
    createTime    integer not null,
    author        text not null,
    foreign key   (author) references Users(userName) on delete cascade on update cascade
);

create table AggregateConstituents (
    aggregate     integer not null references Builds(id) on delete cascade,
    constituent   integer not null references Builds(id) on delete cascade,
    primary key   (aggregate, constituent)
);

create table StarredJobs (
    userName      text not null,
    project       text not null,
    jobset        text not null,
    job           text not null,
    primary key   (userName, project, jobset, job),
    foreign key   (userName) references Users(userName) on update cascade on delete cascade,
    foreign key   (project) references Projects(name) on update cascade on delete cascade,
    foreign key   (project, jobset) references Jobsets(project, name) on update cascade on delete cascade
);

create table FailedPaths (
    path text primary key not null
);
