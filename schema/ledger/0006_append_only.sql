-- The log is append-only, and the database now says so rather than only
-- audit verify detecting a change afterwards (review L9). A trigger
-- refuses every UPDATE, DELETE and TRUNCATE of events, whoever runs it:
-- the application, an analyst's SQL, even the owner. Only a superuser can
-- get past it (session_replication_role, or dropping the trigger as the
-- owner), and the hash chain still shows what it changed.
create function refuse_change() returns trigger
language plpgsql
as $$
begin
    raise exception 'ledger.events is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;

create trigger events_append_only before update or delete on events
    for each row execute function refuse_change();
create trigger events_no_truncate before truncate on events
    for each statement execute function refuse_change();

-- append_sealed runs with its owner's rights, so the roles that append
-- (granted EXECUTE by the bootstrap) need only SELECT on the tables: they
-- cannot insert an event the chain does not seal, nor move the counter or
-- a stream's revision. pg_temp goes last so a caller's temporary tables
-- cannot stand in for the log's.
alter function append_sealed(text[], text[], bigint[], bigint[], int[], text[], bigint[], uuid[], text[], int[], text[], text[])
    security definer set search_path = ledger, pg_temp;
revoke all on function append_sealed(text[], text[], bigint[], bigint[], int[], text[], bigint[], uuid[], text[], int[], text[], text[]) from public;
