-- reactor_snapshots holds, per reactor (name: "scheduler"), the latest
-- snapshot of its in-memory state: the fold of the log up to the event
-- at (position_commit, position_prepare), which is event_id at revision
-- of stream, encoded by the reactor in its format version. A cache of the
-- command side: a reactor that finds no row, or one of another format or
-- another log, folds the whole log instead, so deleting rows only makes
-- its next start slower.
create table reactor_snapshots (
    name             text        primary key,
    version          integer     not null,
    position_commit  bigint      not null,
    position_prepare bigint      not null,
    stream           text        not null,
    revision         bigint      not null,
    event_id         text        not null,
    state            bytea       not null,
    saved_at         timestamptz not null default now()
);
