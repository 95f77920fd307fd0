-- Rows of an evaluation that is still running. Hydra writes an
-- evaluation in one transaction; the ledger records it as many events, so
-- the hydra projection keeps the pieces here until EvaluationFinished moves
-- them into JobsetEvals, JobsetEvalInputs, JobsetEvalMembers,
-- AggregateConstituents and EvaluationErrors at once (or EvaluationFailed
-- drops them). A half-done evaluation never shows in Hydra's tables.

create table eval_staging_inputs (
    eval           integer not null,
    name           text not null,
    altNr          integer not null,
    type           text not null,
    uri            text,
    revision       text,
    value          text,
    dependency     integer,
    path           text,
    sha256hash     text,
    shortRevLength smallint,
    primary key (eval, name, altNr)
);

create table eval_staging_members (
    eval  integer not null,
    build integer not null,
    isNew integer not null,
    primary key (eval, build)
);

create table eval_staging_constituents (
    eval        integer not null,
    aggregate   integer not null,
    constituent integer not null,
    primary key (eval, aggregate, constituent)
);

create table eval_staging_errors (
    eval  integer not null,
    nr    serial,
    job   text not null,
    error text not null,
    primary key (eval, nr)
);
