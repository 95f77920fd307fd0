-- append_sealed replaces append_events. The events arrive sealed: the
-- adapter (adapters/eventstore/pglog) computes each event's place in its
-- stream's hash chain in Go (events.Seal) from the stream's tip, so the
-- function does no per-event work of its own and is set-based. Sealing in
-- plpgsql cost about 200 µs an event, most of the append.
--
-- p_base is the revision of the stream's last event that the seals were
-- computed on (-1 for a new stream). The function runs in the caller's
-- transaction (or its own, in autocommit), and:
--   1. locks the stream row;
--   2. checks the expected revision and that the stream is still at
--      p_base; when either fails it first looks for the ids (SQLSTATE
--      BLDUP: already recorded, the caller decides whether it is an
--      idempotent retry), then raises BLWRV (wrong expected revision) or
--      BLTIP (the stream moved since the caller read its tip: read it again
--      and re-seal);
--   3. takes the counter row as its last lock, which keeps positions
--      gapless and in commit order;
--   4. inserts the events (an id recorded elsewhere fails on events_id_key)
--      and wakes subscribers with NOTIFY.
-- p_expect is 'any', 'no_stream', 'exists' or 'exact' (with p_expect_rev).

drop function append_events(text, text, bigint, uuid[], text[], int[], text[], text[]);
drop function chain_str(text);

create function append_sealed(
    p_stream text, p_expect text, p_expect_rev bigint, p_base bigint,
    p_ids uuid[], p_types text[], p_versions int[], p_data text[], p_meta text[])
returns table (next_revision bigint, last_position bigint)
language plpgsql
set search_path from current
as $$
declare
    v_last   bigint;
    v_exists boolean;
    v_n      bigint := cardinality(p_ids);
    v_head   bigint;
    v_wrong  boolean;
begin
    select revision into v_last from streams where stream = p_stream for update;
    v_exists := found;
    v_wrong := (p_expect = 'no_stream' and v_exists)
        or (p_expect = 'exists' and not v_exists)
        or (p_expect = 'exact' and (not v_exists or v_last <> p_expect_rev));
    if v_wrong or coalesce(v_last, -1) <> p_base then
        if exists (select 1 from events where id = any(p_ids)) then
            raise exception 'event ids already recorded' using errcode = 'BLDUP';
        end if;
        if v_wrong then
            raise exception 'expected %, stream is at %', p_expect || coalesce(' ' || p_expect_rev, ''),
                coalesce(v_last::text, 'no stream')
                using errcode = 'BLWRV';
        end if;
        raise exception 'sealed after revision %, stream is at %', p_base, coalesce(v_last::text, 'no stream')
            using errcode = 'BLTIP';
    end if;
    if v_exists then
        update streams set revision = p_base + v_n where stream = p_stream;
    else
        insert into streams (stream, revision) values (p_stream, v_n - 1);
    end if;
    update counter set position = position + v_n returning position into v_head;
    insert into events (position, stream, revision, id, type, version, data, metadata)
    select v_head - v_n + o, p_stream, p_base + o, t.id, t.type, t.version, t.data::json, t.meta::json
    from unnest(p_ids, p_types, p_versions, p_data, p_meta) with ordinality as t(id, type, version, data, meta, o);
    perform pg_notify('ledger_appended', v_head::text);
    return query select p_base + v_n, v_head;
end;
$$;
