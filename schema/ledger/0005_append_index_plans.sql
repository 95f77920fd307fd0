-- append_sealed as in 0003, but its two statements that look up the
-- call's streams (a few hundred at a time) are planned without sequential
-- scans, so that they probe the streams' primary key once per stream
-- whatever the size of the table. Their plans are cached generic, made
-- once per connection; made while streams was small, they scanned it on
-- every call as it grew, and a cached plan cannot hash the array either:
-- "stream = any(p_streams)" tested each row against every element. In an
-- evaluation of 10,000 builds, appending 500 new streams at a time, the
-- lock took 0.4 to 1.3 s of Postgres's time in some runs and 0.04 s in
-- others; appending 200,000 streams, the check took 10 ms a call. Turning
-- sequential scans off for the whole function instead sent the counter's
-- one-row update through its index, at 46 ms a call, and planning every
-- call (plan_cache_mode) still chose scans, from row counts that lag a
-- table growing this fast. The setting is local to the transaction and
-- put back at once; an error rolls it back with the transaction.

create or replace function append_sealed(
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
    v_seqscan text := current_setting('enable_seqscan');
    v_failed boolean;
begin
    perform set_config('enable_seqscan', 'off', true);
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
    v_failed := found;
    perform set_config('enable_seqscan', v_seqscan, true);
    if v_failed then
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
