create table {{table "per_system"}} (
    system text primary key,
    steps  bigint not null
);
