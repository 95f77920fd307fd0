-- append_events appends a batch to one stream in a single round trip. It
-- runs in the caller's transaction (or its own, in autocommit), and:
--   1. locks the stream row (creating it when the stream is new);
--   2. refuses ids that are already recorded (SQLSTATE BLDUP: the caller
--      decides whether it is an idempotent retry);
--   3. checks the expected revision (SQLSTATE BLWRV on mismatch);
--   4. takes the counter row as its last lock, which keeps positions
--      gapless and in commit order;
--   5. seals each event into its stream's hash chain (below), inserts the
--      events and wakes subscribers with NOTIFY.
-- p_expect is 'any', 'no_stream', 'exists' or 'exact' (with p_expect_rev).
--
-- The tamper-evident hash chain. append_events seals every event it
-- appends: metadata gets "prevHash" (the hash of the previous event of the
-- same stream, absent for a stream's first event) and "hash", the hex
-- SHA-256 of the event's canonical encoding. The encoding is defined once,
-- in Go (events.ContentHash in events/chain.go); this function computes
-- exactly the same bytes:
--   str(x) = 8-byte big-endian length of x's UTF-8 bytes, then the bytes
--   num(n) = 8-byte big-endian n
--   hash   = sha256(str('buildledger-event-v1') || str(id) || str(type) ||
--            num(version) || str(stream) || num(revision) || str(data) ||
--            str(actor) || str(correlationId) || str(causationId) ||
--            str(host) || str(prevHash))
-- The previous hash costs one lookup per append, by the (stream, revision)
-- index, under the stream lock.

create function chain_str(s text) returns bytea
language sql immutable strict parallel safe
as $$ select int8send(octet_length(convert_to(s, 'UTF8'))::bigint) || convert_to(s, 'UTF8') $$;

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
    v_prev   text := '';
    v_hash   text;
    v_md     json;
    v_m      text;
    v_sealed text[] := array[]::text[];
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
        select coalesce(metadata->>'hash', '') into v_prev from events where stream = p_stream and revision = v_last;
        v_prev := coalesce(v_prev, '');
    end if;
    for i in 1 .. v_n loop
        v_md := p_meta[i]::json;
        v_hash := encode(sha256(
            chain_str('buildledger-event-v1') || chain_str(p_ids[i]::text) || chain_str(p_types[i]) ||
            int8send(p_versions[i]::bigint) || chain_str(p_stream) || int8send(v_first + i - 1) ||
            chain_str(p_data[i]) ||
            chain_str(coalesce(v_md->>'actor', '')) || chain_str(coalesce(v_md->>'correlationId', '')) ||
            chain_str(coalesce(v_md->>'causationId', '')) || chain_str(coalesce(v_md->>'host', '')) ||
            chain_str(v_prev)), 'hex');
        -- The caller's metadata never carries chain fields (the adapter
        -- clears them): append them to its JSON object text.
        v_m := rtrim(p_meta[i]);
        if v_m ~ '^\{\s*\}$' then
            v_m := '{';
        else
            v_m := left(v_m, -1) || ',';
        end if;
        if v_prev <> '' then
            v_m := v_m || '"prevHash":' || to_json(v_prev)::text || ',';
        end if;
        v_sealed := v_sealed || (v_m || '"hash":' || to_json(v_hash)::text || '}');
        v_prev := v_hash;
    end loop;
    if v_exists then
        update streams set revision = v_first + v_n - 1 where stream = p_stream;
    else
        insert into streams (stream, revision) values (p_stream, v_first + v_n - 1);
    end if;
    update counter set position = position + v_n returning position into v_head;
    insert into events (position, stream, revision, id, type, version, data, metadata)
    select v_head - v_n + o, p_stream, v_first + o - 1, t.id, t.type, t.version, t.data::json, t.meta::json
    from unnest(p_ids, p_types, p_versions, p_data, v_sealed) with ordinality as t(id, type, version, data, meta, o);
    perform pg_notify('ledger_appended', v_head::text);
    return query select v_first + v_n - 1, v_head;
end;
$$;
