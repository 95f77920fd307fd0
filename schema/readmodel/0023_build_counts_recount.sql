-- 0023_build_counts_recount.sql: the counts of 0001 (NrBuilds) and 0021
-- (JobsetEvalCounts, JobsetCurrentCounts) can be counted afresh, and a
-- count that comes to zero leaves no row.
--
-- A replay loads Builds and JobsetEvalMembers with the triggers that keep
-- these counts disabled, and then counts them once with
-- recountBuildCounts (hydra.Projection.DeferredTriggers): the triggers
-- were a third of the time the replay's writer spent in Postgres. For the
-- counts so made to be the rows the triggers keep, an evaluation or a
-- jobset whose count comes to zero (a jobset none of whose builds is
-- current any more) has no row, which readers take as zeros anyway; the
-- triggers kept a row of zeros, or none, depending on where a batch of the
-- projection began.

create or replace function jobsetCountsOfBuilds() returns trigger as $$
declare
    path text := current_setting('search_path');
    signs int[];
    ids int[];
    jobsetIds int[];
    currents int[];
    channels int[];
    dones int[];
    statuses int[];
    -- The jobsets and evaluations whose counts came to zero.
    noJobsets int[];
    noEvals int[];
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    if tg_op <> 'DELETE' then
        select array_agg(1), array_agg(id), array_agg(jobset_id), array_agg(isCurrent), array_agg(isChannel), array_agg(finished),
            array_agg(buildStatus)
          into signs, ids, jobsetIds, currents, channels, dones, statuses
          from new_rows;
    end if;
    if tg_op <> 'INSERT' then
        select signs || array_agg(-1), ids || array_agg(id), jobsetIds || array_agg(jobset_id), currents || array_agg(isCurrent),
            channels || array_agg(isChannel), dones || array_agg(finished), statuses || array_agg(buildStatus)
          into signs, ids, jobsetIds, currents, channels, dones, statuses
          from old_rows;
    end if;
    with d as (
        select id, jobset_id, isCurrent, sign as n, sign * (isChannel = 0)::int as j, sign * (finished = 0)::int as q,
            sign * (finished = 1 and buildStatus is not distinct from 0)::int as s,
            sign * (finished = 1 and coalesce(buildStatus <> 0, false))::int as f
        from unnest(signs, ids, jobsetIds, currents, channels, dones, statuses)
            as r(sign, id, jobset_id, isCurrent, isChannel, finished, buildStatus)),
    jobsets as (
        insert into JobsetCurrentCounts as c (jobset_id, nrTotal, nrQueued, nrSucceeded, nrFailed)
        select jobset_id, sum(n), sum(q), sum(s), sum(f) from d
        where isCurrent = 1 and exists (select 1 from Jobsets j where j.id = d.jobset_id)
        group by jobset_id
        having sum(n) <> 0 or sum(q) <> 0 or sum(s) <> 0 or sum(f) <> 0
        on conflict (jobset_id) do update set nrTotal = c.nrTotal + excluded.nrTotal, nrQueued = c.nrQueued + excluded.nrQueued,
            nrSucceeded = c.nrSucceeded + excluded.nrSucceeded, nrFailed = c.nrFailed + excluded.nrFailed
        returning jobset_id, nrTotal),
    evals as (
        insert into JobsetEvalCounts as c (eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed)
        select m.eval, sum(b.n), sum(b.j), sum(b.q), sum(b.s), sum(b.f)
        from (select id, sum(n) as n, sum(j) as j, sum(q) as q, sum(s) as s, sum(f) as f from d where tg_op <> 'INSERT' group by id
              having sum(n) <> 0 or sum(j) <> 0 or sum(q) <> 0 or sum(s) <> 0 or sum(f) <> 0) b
        join JobsetEvalMembers m on m.build = b.id
        where exists (select 1 from JobsetEvals e where e.id = m.eval)
        group by m.eval
        on conflict (eval) do update set nrBuilds = c.nrBuilds + excluded.nrBuilds, nrJobs = c.nrJobs + excluded.nrJobs,
            nrQueued = c.nrQueued + excluded.nrQueued, nrSucceeded = c.nrSucceeded + excluded.nrSucceeded,
            nrFailed = c.nrFailed + excluded.nrFailed
        returning eval, nrBuilds)
    select array(select jobset_id from jobsets where nrTotal = 0), array(select eval from evals where nrBuilds = 0)
      into noJobsets, noEvals;
    -- Every other count is part of nrTotal (nrBuilds), so it is zero too.
    if cardinality(noJobsets) > 0 then
        delete from JobsetCurrentCounts where jobset_id = any(noJobsets) and nrTotal = 0;
    end if;
    if cardinality(noEvals) > 0 then
        delete from JobsetEvalCounts where eval = any(noEvals) and nrBuilds = 0;
    end if;
    perform set_config('search_path', path, true);
    return null;
end;
$$ language plpgsql set plan_cache_mode = force_generic_plan;

create or replace function jobsetEvalCountsOfMembers() returns trigger as $$
declare
    path text := current_setting('search_path');
    signs int[];
    evals int[];
    builds int[];
    noEvals int[];
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    if tg_op <> 'DELETE' then
        select array_agg(1), array_agg(eval), array_agg(build) into signs, evals, builds from new_rows;
    end if;
    if tg_op <> 'INSERT' then
        select signs || array_agg(-1), evals || array_agg(eval), builds || array_agg(build) into signs, evals, builds from old_rows;
    end if;
    with counted as (
        insert into JobsetEvalCounts as c (eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed)
        select r.eval, sum(r.sign), sum(r.sign * (b.isChannel = 0)::int), sum(r.sign * (b.finished = 0)::int),
            sum(r.sign * (b.finished = 1 and b.buildStatus is not distinct from 0)::int),
            sum(r.sign * (b.finished = 1 and coalesce(b.buildStatus <> 0, false))::int)
        from unnest(signs, evals, builds) as r(sign, eval, build) join Builds b on b.id = r.build
        where exists (select 1 from JobsetEvals e where e.id = r.eval)
        group by r.eval
        on conflict (eval) do update set nrBuilds = c.nrBuilds + excluded.nrBuilds, nrJobs = c.nrJobs + excluded.nrJobs,
            nrQueued = c.nrQueued + excluded.nrQueued, nrSucceeded = c.nrSucceeded + excluded.nrSucceeded,
            nrFailed = c.nrFailed + excluded.nrFailed
        returning eval, nrBuilds)
    select array(select eval from counted where nrBuilds = 0) into noEvals;
    if cardinality(noEvals) > 0 then
        delete from JobsetEvalCounts where eval = any(noEvals) and nrBuilds = 0;
    end if;
    perform set_config('search_path', path, true);
    return null;
end;
$$ language plpgsql set plan_cache_mode = force_generic_plan;

-- Rows of zeros the triggers left.
delete from JobsetEvalCounts where nrBuilds = 0;
delete from JobsetCurrentCounts where nrTotal = 0;

-- recountBuildCounts counts NrBuilds' finished builds, JobsetEvalCounts
-- and JobsetCurrentCounts afresh from Builds and JobsetEvalMembers, in the
-- schema on the search path: what their triggers give when they run on
-- every write, for a replay that loaded the tables with them disabled.
create function recountBuildCounts() returns void as $$
    update NrBuilds set count = (select count(*) from Builds where finished = 1) where what = 'finished';

    delete from JobsetEvalCounts;
    insert into JobsetEvalCounts (eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed)
    select m.eval, count(*), count(*) filter (where b.isChannel = 0), count(*) filter (where b.finished = 0),
        count(*) filter (where b.finished = 1 and b.buildStatus is not distinct from 0),
        count(*) filter (where b.finished = 1 and coalesce(b.buildStatus <> 0, false))
    from JobsetEvalMembers m join Builds b on b.id = m.build
    where exists (select 1 from JobsetEvals e where e.id = m.eval)
    group by m.eval;

    delete from JobsetCurrentCounts;
    insert into JobsetCurrentCounts (jobset_id, nrTotal, nrQueued, nrSucceeded, nrFailed)
    select jobset_id, count(*), count(*) filter (where finished = 0),
        count(*) filter (where finished = 1 and buildStatus is not distinct from 0),
        count(*) filter (where finished = 1 and coalesce(buildStatus <> 0, false))
    from Builds b where isCurrent = 1 and exists (select 1 from Jobsets j where j.id = b.jobset_id)
    group by jobset_id;
$$ language sql;
