create table {{table "per_system"}} (
    system       text primary key,
    steps        bigint not null,
    with_inputs  bigint not null,
    last_drv     text not null,
    last_at      timestamptz not null
);
