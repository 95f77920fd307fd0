-- append_events appends a batch to one stream in a single round trip. It
-- runs in the caller's transaction (or its own, in autocommit), and:
--   1. locks the stream row (creating it when the stream is new);
--   2. refuses ids that are already recorded (SQLSTATE BLDUP: the caller
--      decides whether it is an idempotent retry);
--   3. checks the expected revision (SQLSTATE BLWRV on mismatch);
--   4. takes the counter row as its last lock, which keeps positions
--      gapless and in commit order;
--   5. inserts the events and wakes subscribers with NOTIFY.
-- p_expect is 'any', 'no_stream', 'exists' or 'exact' (with p_expect_rev).
create function append_events(
    p_stream text, p_expect text, p_expect_rev bigint,
    p_ids uuid[], p_types text[], p_versions int[], p_data text[], p_meta text[])
returns table (next_revision bigint, last_position bigint)
language plpgsql
set search_path from current
as $$
declare
    v_last   bigint;
    v_exists boolean;
    v_first  bigint;
    v_n      bigint := cardinality(p_ids);
    v_head   bigint;
begin
    select revision into v_last from streams where stream = p_stream for update;
    v_exists := found;
    if exists (select 1 from events where id = any(p_ids)) then
        raise exception 'event ids already recorded' using errcode = 'BLDUP';
    end if;
    if (p_expect = 'no_stream' and v_exists)
        or (p_expect = 'exists' and not v_exists)
        or (p_expect = 'exact' and (not v_exists or v_last <> p_expect_rev)) then
        raise exception 'expected %, stream is at %', p_expect || coalesce(' ' || p_expect_rev, ''),
            coalesce(v_last::text, 'no stream')
            using errcode = 'BLWRV';
    end if;
    v_first := case when v_exists then v_last + 1 else 0 end;
    if v_exists then
        update streams set revision = v_first + v_n - 1 where stream = p_stream;
    else
        insert into streams (stream, revision) values (p_stream, v_first + v_n - 1);
    end if;
    update counter set position = position + v_n returning position into v_head;
    insert into events (position, stream, revision, id, type, version, data, metadata)
    select v_head - v_n + o, p_stream, v_first + o - 1, t.id, t.type, t.version, t.data::json, t.meta::json
    from unnest(p_ids, p_types, p_versions, p_data, p_meta) with ordinality as t(id, type, version, data, meta, o);
    perform pg_notify('ledger_appended', v_head::text);
    return query select v_first + v_n - 1, v_head;
end;
$$;
