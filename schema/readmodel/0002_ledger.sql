-- 0002_ledger.sql: read models Hydra has no equivalent for.
--
-- Applied like 0001 (one transaction, SET LOCAL search_path TO <target
-- schema>; nothing names a schema). Names are snake_case.
--
-- Conventions:
--   * Log positions: events.Position is a (commit, prepare) pair. The
--     Postgres log sets both to the same gapless integer; EventStoreDB
--     shares one commit position between the events of one append, so
--     tables keyed by position key on the pair (position, position_prepare)
--     and order by it.
--   * Times: columns named *_at are timestamptz; columns named *_time are
--     Unix seconds in bigint, as the event payloads and Hydra's tables carry
--     them.
--   * No foreign keys to the Hydra tables: each projection advances on its
--     own checkpoint, so a ledger table may be ahead of or behind them.

-- Where each projection is in the log. Updated in the same transaction as
-- the rows the projection writes.
create table projection_checkpoints (
    name             text primary key,
    position_commit  bigint not null,
    position_prepare bigint not null,
    updated_at       timestamptz not null default now(),
    events_applied   bigint not null default 0
);

-- The build graph of each evaluation: drv_path needs input_drv. Fed by
-- StepQueued (one row per input derivation).
create table build_graph_edges (
    eval_id   integer not null,
    drv_path  text not null,
    input_drv text not null,
    primary key (eval_id, drv_path, input_drv)
);

create index build_graph_edges_input_drv on build_graph_edges (input_drv);

-- Every derivation step the ledger knows, independent of the builds that
-- need it (Hydra only records a step under one build). Fed by StepQueued,
-- StepDispatched, StepStarted, StepFinished, StepRetryScheduled.
create table steps (
    drv_path          text primary key,
    system            text not null,
    required_features text[] not null default '{}',
    prefer_local      boolean not null default false,
    status            integer,           -- Hydra status code of the last finished attempt; null before
    busy              integer not null default 0,  -- Hydra's BuildSteps.busy values
    machine           text,              -- machine of the current or last attempt
    attempts          integer not null default 0,
    first_queued_at   timestamptz not null,
    finished_at       timestamptz        -- set when the step reached a final status
);

create index steps_unfinished on steps (system) where finished_at is null;

-- Every attempt at a step: where it ran, when, and how it ended. Hydra keeps
-- only the last attempt's BuildSteps row.
create table step_attempts (
    drv_path             text not null,
    attempt              integer not null,
    build_id             integer,
    step_nr              integer,          -- BuildSteps.stepnr under build_id
    machine              text not null,
    status               integer,          -- null while running
    busy                 integer not null default 0,
    dispatched_at        timestamptz,
    lease_until          timestamptz,      -- dispatch lease; re-queued after it
    start_time           bigint,
    stop_time            bigint,
    exit_code            integer,
    error_msg            text,
    times_built          integer,
    is_non_deterministic boolean,
    overhead             bigint,           -- milliseconds spent copying
    log_location         text,
    log_size             bigint,
    log_sha256           text,
    retry_at             timestamptz,      -- set when a retry was scheduled after this attempt
    retry_reason         text,
    primary key (drv_path, attempt)
);

create index step_attempts_build on step_attempts (build_id);
create index step_attempts_machine on step_attempts (machine, start_time desc);
create index step_attempts_busy on step_attempts (busy) where busy != 0;

-- Why the scheduler ran each step where it did: the values Hydra's order
-- compares, at the moment of the decision. Fed by StepDispatched.
create table scheduling_decisions (
    position         bigint not null,
    position_prepare bigint not null,
    drv_path         text not null,
    build_id         integer,
    machine          text not null,
    attempt          integer not null,
    global_priority  integer not null,
    share_used       double precision not null,
    critical_path    integer not null,
    dependents       integer not null,
    local_priority   integer not null,
    lowest_build_id  integer,
    candidates       integer not null,
    decided_at       timestamptz not null,
    primary key (position, position_prepare)
);

create index scheduling_decisions_drv on scheduling_decisions (drv_path, attempt);
create index scheduling_decisions_machine on scheduling_decisions (machine, position);

-- Who did what: one row per event of the log. Fed by every event.
create table audit_log (
    position         bigint not null,
    position_prepare bigint not null,
    event_id         uuid not null unique,
    stream           text not null,
    type             text not null,
    actor            text not null default '',
    correlation_id   text not null default '',
    recorded_at      timestamptz not null,
    summary          text not null default '',
    primary key (position, position_prepare)
);

create index audit_log_stream on audit_log (stream, position);
create index audit_log_actor on audit_log (actor, position);
create index audit_log_correlation on audit_log (correlation_id) where correlation_id != '';

-- Every NAR hash seen for an output path, by build and machine: evidence of
-- (non-)reproducibility. Fed by OutputUploaded (and StepFinished outputs).
create table output_observations (
    path        text not null,
    drv_path    text not null,
    nar_hash    text not null,
    nar_size    bigint not null,
    build_id    integer not null,
    machine     text not null default '',
    observed_at timestamptz not null,
    primary key (path, nar_hash, build_id)
);

create index output_observations_drv on output_observations (drv_path);

-- API tokens (only a hash of the secret is stored).
create table api_tokens (
    id           text primary key,
    user_name    text not null,
    name         text not null,
    token_hash   text not null unique,
    created_at   timestamptz not null,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

create index api_tokens_user on api_tokens (user_name);
