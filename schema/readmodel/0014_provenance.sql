-- 0014_provenance.sql: what the SLSA provenance of a build is made of, and
-- the statements (projections/provenance, docs/provenance.md). Like every
-- read model, rebuilt from the log by a replay; the statements come out
-- byte for byte the same.

-- Each build as queued. Fed by BuildQueued.
create table provenance_builds (
    build_id        bigint primary key,
    eval_id         bigint not null,
    project         text not null,
    jobset          text not null,
    job             text not null,
    drv_path        text not null,
    system          text not null,
    output_names    text[] not null,
    output_paths    text[] not null,
    queued_position bigint not null
);

-- The evaluations' inputs. Fed by InputFetched.
create table provenance_inputs (
    eval_id    bigint not null,
    name       text not null,
    alt_nr     integer not null,
    type       text not null,
    uri        text not null,
    revision   text not null,
    value      text not null,
    store_path text not null,
    sha256     text not null,
    position   bigint not null,
    primary key (eval_id, name, alt_nr)
);

-- Each derivation queued to be built, with its inputs. Fed by StepQueued
-- (the first one of a derivation).
create table provenance_drvs (
    drv_path     text primary key,
    input_drvs   text[] not null,
    input_srcs   text[] not null,
    output_names text[] not null,
    output_paths text[] not null
);

-- Each attempt at a step. Fed by StepStarted and StepFinished.
create table provenance_runs (
    drv_path          text not null,
    attempt           integer not null,
    build_id          bigint not null,
    step_nr           integer not null,
    machine           text not null,
    start_time        bigint not null,
    stop_time         bigint,
    status            integer,
    started_position  bigint,
    finished_position bigint,
    primary key (drv_path, attempt)
);

-- The NAR hash of each store path uploaded, as the cache holds it (the
-- first upload; later ones of the same path find it there). Fed by
-- OutputUploaded.
create table provenance_nar_hashes (
    path     text primary key,
    nar_hash text not null,
    position bigint not null
);

-- The statement of each successful build whose outputs were uploaded:
-- the in-toto JSON exactly as signed. Fed by BuildFinished; removed by
-- BuildRestarted and BuildWithdrawn. run_build_id is the build whose step
-- built the outputs: a cached build's statement names an earlier build's.
create table provenance_statements (
    build_id          bigint primary key,
    run_build_id      bigint not null,
    finished_position bigint not null,
    payload           bytea not null
);

create index provenance_statements_position on provenance_statements (finished_position);
