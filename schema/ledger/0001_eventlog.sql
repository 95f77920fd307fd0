-- The event log: append-only, one total order with a gapless position in
-- commit order. Appends lock the stream row, then take the counter row as
-- their last lock (UPDATE counter SET position = position + n), so no
-- reader can see position N+1 before N has committed.

create table counter (
    id       boolean primary key default true check (id),
    position bigint  not null
);
insert into counter (id, position) values (true, 0);

create table streams (
    stream   text   primary key,
    revision bigint not null  -- revision of the stream's last event (from 0)
);

create table events (
    position    bigint      primary key,
    stream      text        not null,
    revision    bigint      not null,
    id          uuid        not null unique,
    type        text        not null,
    version     integer     not null check (version >= 1),
    -- json, not jsonb: the bytes are kept exactly as written, so the
    -- tamper-evident hash chain can be verified over them.
    data        json        not null,
    metadata    json        not null,
    recorded_at timestamptz not null default now(),
    unique (stream, revision)
);
create index events_type_position on events (type, position);
