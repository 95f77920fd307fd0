-- 0021_jobset_counts.sql: the counts a jobset's pages show, kept by
-- triggers instead of counted per request.
--
-- The evaluations list counted each evaluation's members by state, the
-- project page each jobset's current builds, and the jobs tab an
-- evaluation's jobs, on every request: at 100,000 jobs each took hundreds
-- of milliseconds. These two tables (not Hydra's) hold the counts. Like
-- NrBuilds, statement-level triggers with transition tables keep them,
-- so the counts follow the rows of Builds and JobsetEvalMembers whoever
-- writes them (a live projection, a replay, COPY or the staged merge),
-- and a replay yields the same counts as the live run.
--
-- An evaluation counts the members whose build exists, and only an
-- evaluation or a jobset that exists has counts: rows deleted after their
-- jobset (a cascade runs in no set order) leave no counts behind. The one case the
-- triggers do not follow is a build deleted by a foreign key's cascade
-- while its evaluation stays; the projection deletes builds only when
-- they are withdrawn (never members) or with their jobset (whose
-- evaluations go too).

create table JobsetEvalCounts (
    eval        integer primary key not null,
    nrBuilds    integer not null,  -- member builds
    nrJobs      integer not null,  -- member builds that are not channels
    nrQueued    integer not null,  -- finished = 0
    nrSucceeded integer not null,  -- finished, buildStatus = 0
    nrFailed    integer not null   -- finished, buildStatus <> 0
);

-- A jobset's current builds (isCurrent = 1), by state.
create table JobsetCurrentCounts (
    jobset_id   integer primary key not null,
    nrTotal     integer not null,
    nrQueued    integer not null,
    nrSucceeded integer not null,
    nrFailed    integer not null
);

-- The triggers count a build's states as 0/1 columns, signed +1 for a row
-- that appears and -1 for one that goes. Planning their statements anew
-- on every write to Builds would cost more than running them, so they are
-- static and planned once a session (a generic plan: the changed rows are
-- passed in arrays, whose sizes would otherwise make each run plan anew).
-- They reach the tables of the schema the changed table lives in
-- (TG_TABLE_SCHEMA, since a replay builds its schema under another name)
-- by setting search_path to it for the trigger's run, and set it back
-- after. A member is never written before its build (the foreign key, or
-- the projection's own check while a replay goes without it), so a new
-- build is in no evaluation yet.
create function jobsetCountsOfBuilds() returns trigger as $$
declare
    path text := current_setting('search_path');
    -- The changed rows' columns that count, with their signs.
    signs int[];
    ids int[];
    jobsetIds int[];
    currents int[];
    channels int[];
    dones int[];
    statuses int[];
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
    -- An update is the new rows less the old ones; most change no count,
    -- and only builds whose counts changed are looked up among the
    -- members (none for new builds).
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
            nrSucceeded = c.nrSucceeded + excluded.nrSucceeded, nrFailed = c.nrFailed + excluded.nrFailed)
    insert into JobsetEvalCounts as c (eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed)
    select m.eval, sum(b.n), sum(b.j), sum(b.q), sum(b.s), sum(b.f)
    from (select id, sum(n) as n, sum(j) as j, sum(q) as q, sum(s) as s, sum(f) as f from d where tg_op <> 'INSERT' group by id
          having sum(n) <> 0 or sum(j) <> 0 or sum(q) <> 0 or sum(s) <> 0 or sum(f) <> 0) b
    join JobsetEvalMembers m on m.build = b.id
    where exists (select 1 from JobsetEvals e where e.id = m.eval)
    group by m.eval
    on conflict (eval) do update set nrBuilds = c.nrBuilds + excluded.nrBuilds, nrJobs = c.nrJobs + excluded.nrJobs,
        nrQueued = c.nrQueued + excluded.nrQueued, nrSucceeded = c.nrSucceeded + excluded.nrSucceeded,
        nrFailed = c.nrFailed + excluded.nrFailed;
    perform set_config('search_path', path, true);
    return null;
end;
$$ language plpgsql set plan_cache_mode = force_generic_plan;

create trigger JobsetCountsInsert after insert on Builds
    referencing new table as new_rows
    for each statement execute function jobsetCountsOfBuilds();
create trigger JobsetCountsUpdate after update on Builds
    referencing old table as old_rows new table as new_rows
    for each statement execute function jobsetCountsOfBuilds();
create trigger JobsetCountsDelete after delete on Builds
    referencing old table as old_rows
    for each statement execute function jobsetCountsOfBuilds();

create function jobsetEvalCountsOfMembers() returns trigger as $$
declare
    path text := current_setting('search_path');
    signs int[];
    evals int[];
    builds int[];
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    if tg_op <> 'DELETE' then
        select array_agg(1), array_agg(eval), array_agg(build) into signs, evals, builds from new_rows;
    end if;
    if tg_op <> 'INSERT' then
        select signs || array_agg(-1), evals || array_agg(eval), builds || array_agg(build) into signs, evals, builds from old_rows;
    end if;
    insert into JobsetEvalCounts as c (eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed)
    select r.eval, sum(r.sign), sum(r.sign * (b.isChannel = 0)::int), sum(r.sign * (b.finished = 0)::int),
        sum(r.sign * (b.finished = 1 and b.buildStatus is not distinct from 0)::int),
        sum(r.sign * (b.finished = 1 and coalesce(b.buildStatus <> 0, false))::int)
    from unnest(signs, evals, builds) as r(sign, eval, build) join Builds b on b.id = r.build
    where exists (select 1 from JobsetEvals e where e.id = r.eval)
    group by r.eval
    on conflict (eval) do update set nrBuilds = c.nrBuilds + excluded.nrBuilds, nrJobs = c.nrJobs + excluded.nrJobs,
        nrQueued = c.nrQueued + excluded.nrQueued, nrSucceeded = c.nrSucceeded + excluded.nrSucceeded,
        nrFailed = c.nrFailed + excluded.nrFailed;
    perform set_config('search_path', path, true);
    return null;
end;
$$ language plpgsql set plan_cache_mode = force_generic_plan;

create trigger JobsetEvalCountsInsert after insert on JobsetEvalMembers
    referencing new table as new_rows
    for each statement execute function jobsetEvalCountsOfMembers();
create trigger JobsetEvalCountsUpdate after update on JobsetEvalMembers
    referencing old table as old_rows new table as new_rows
    for each statement execute function jobsetEvalCountsOfMembers();
create trigger JobsetEvalCountsDelete after delete on JobsetEvalMembers
    referencing old table as old_rows
    for each statement execute function jobsetEvalCountsOfMembers();

-- The counts go with their evaluation or jobset.
create function dropJobsetCounts() returns trigger as $$
begin
    if tg_table_name = 'jobsetevals' then
        execute format('delete from %I.JobsetEvalCounts where eval in (select id from old_rows)', tg_table_schema);
    else
        execute format('delete from %I.JobsetCurrentCounts where jobset_id in (select id from old_rows)', tg_table_schema);
    end if;
    return null;
end;
$$ language plpgsql;

create trigger JobsetEvalCountsDrop after delete on JobsetEvals
    referencing old table as old_rows
    for each statement execute function dropJobsetCounts();
create trigger JobsetCurrentCountsDrop after delete on Jobsets
    referencing old table as old_rows
    for each statement execute function dropJobsetCounts();

-- The counts of the rows already there.
insert into JobsetEvalCounts (eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed)
select m.eval, count(*), count(*) filter (where b.isChannel = 0), count(*) filter (where b.finished = 0),
    count(*) filter (where b.finished = 1 and b.buildStatus = 0), count(*) filter (where b.finished = 1 and b.buildStatus <> 0)
from JobsetEvalMembers m join Builds b on b.id = m.build
where exists (select 1 from JobsetEvals e where e.id = m.eval)
group by m.eval;

insert into JobsetCurrentCounts (jobset_id, nrTotal, nrQueued, nrSucceeded, nrFailed)
select jobset_id, count(*), count(*) filter (where finished = 0), count(*) filter (where finished = 1 and buildStatus = 0),
    count(*) filter (where finished = 1 and buildStatus <> 0)
from Builds b where isCurrent = 1 and exists (select 1 from Jobsets j where j.id = b.jobset_id)
group by jobset_id;
