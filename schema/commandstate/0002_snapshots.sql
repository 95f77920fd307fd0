-- snapshots holds, per stream and aggregate (key names the aggregate and
-- the version of its state's shape), the state folded up to revision, as
-- JSON. A cache of the command side: deleting rows only makes loads fold
-- more of their streams.
create table snapshots (
    stream     text        not null,
    key        text        not null,
    revision   bigint      not null,
    state      bytea       not null,
    updated_at timestamptz not null default now(),
    primary key (stream, key)
);
