-- append_sealed replaces append_events: one set-based call appends to any
-- number of distinct streams. The events arrive sealed: the adapter
-- (adapters/eventstore/pglog) computes each event's place in its stream's
-- hash chain in Go (events.Seal) from the stream's tip, so the function
-- does no per-event work of its own. Sealing in plpgsql, a loop per event,
-- cost about 200 µs an event; one call per stream cost an evaluation of
-- 10,000 builds 20,000 calls.
--
-- Per stream (p_streams, distinct; p_expects, p_expect_revs, p_bases,
-- p_counts): the expectation ('any', 'no_stream', 'exists' or 'exact'
-- with the revision), the revision of the stream's last event that the
-- seals were computed on (-1 for a new stream) and how many events follow.
-- Per event, in append order (p_ev_streams, p_ev_revs, p_ids, …).
--
-- It runs in the caller's transaction (or its own, in autocommit), and:
--   1. locks the streams' rows, in name order (so two calls never
--      deadlock);
--   2. checks every expectation and that every stream is still at its
--      base; when one fails it first looks for the ids (SQLSTATE BLDUP:
--      already recorded, the caller decides whether it is an idempotent
--      retry), then raises BLWRV (wrong expected revision) or BLTIP (a
--      stream moved since the caller read its tip: read it again and
--      re-seal);
--   3. takes the counter row as its last lock, which keeps positions
--      gapless and in commit order;
--   4. inserts the events (an id recorded elsewhere fails on events_id_key,
--      a new stream created meanwhile by another writer on
--      events_stream_revision_key) and wakes subscribers with NOTIFY.
-- It returns the head position: the events have the positions up to it,
-- in the order given.

drop function append_events(text, text, bigint, uuid[], text[], int[], text[], text[]);
drop function chain_str(text);

create function append_sealed(
    p_streams text[], p_expects text[], p_expect_revs bigint[], p_bases bigint[], p_counts int[],
    p_ev_streams text[], p_ev_revs bigint[],
    p_ids uuid[], p_types text[], p_versions int[], p_data text[], p_meta text[])
returns bigint
language plpgsql
set search_path from current
as $$
declare
    v_n      bigint := cardinality(p_ids);
    v_head   bigint;
    v_stream text;
    v_expect text;
    v_at     text;
    v_wrong  boolean;
begin
    perform 1 from streams where stream = any(p_streams) order by stream for update;
    select a.stream, a.expect || coalesce(' ' || a.expect_rev, ''), coalesce(s.revision::text, 'no stream'),
           (a.expect = 'no_stream' and s.stream is not null)
            or (a.expect = 'exists' and s.stream is null)
            or (a.expect = 'exact' and (s.stream is null or s.revision <> a.expect_rev))
    into v_stream, v_expect, v_at, v_wrong
    from unnest(p_streams, p_expects, p_expect_revs, p_bases) as a(stream, expect, expect_rev, base)
    left join streams s on s.stream = a.stream
    where (a.expect = 'no_stream' and s.stream is not null)
       or (a.expect = 'exists' and s.stream is null)
       or (a.expect = 'exact' and (s.stream is null or s.revision <> a.expect_rev))
       or coalesce(s.revision, -1) <> a.base
    order by 4 desc
    limit 1;
    if found then
        if exists (select 1 from events where id = any(p_ids)) then
            raise exception 'event ids already recorded' using errcode = 'BLDUP';
        end if;
        if v_wrong then
            raise exception '%: expected %, stream is at %', v_stream, v_expect, v_at using errcode = 'BLWRV';
        end if;
        raise exception '%: sealed on an older tip, stream is at %', v_stream, v_at using errcode = 'BLTIP';
    end if;
    insert into streams (stream, revision)
    select stream, base + count from unnest(p_streams, p_bases, p_counts) as a(stream, base, count)
    on conflict (stream) do update set revision = excluded.revision;
    update counter set position = position + v_n returning position into v_head;
    insert into events (position, stream, revision, id, type, version, data, metadata)
    select v_head - v_n + o, t.stream, t.rev, t.id, t.type, t.version, t.data::json, t.meta::json
    from unnest(p_ev_streams, p_ev_revs, p_ids, p_types, p_versions, p_data, p_meta)
        with ordinality as t(stream, rev, id, type, version, data, meta, o);
    perform pg_notify('ledger_appended', v_head::text);
    return v_head;
end;
$$;
