-- 0011_buildmetrics_keys.sql: Hydra's keys from BuildMetrics to Projects
-- and Jobsets.
--
-- BuildMetrics' copied project and jobset names follow a rename, as in
-- Hydra, and no longer cascade a delete: the projection deletes a project's
-- or jobset's metrics itself before it deletes the project or jobset.
alter table BuildMetrics
    drop constraint buildmetrics_project_fkey,
    drop constraint buildmetrics_project_jobset_fkey,
    add foreign key (project) references Projects (name) on update cascade,
    add foreign key (project, jobset) references Jobsets (project, name) on update cascade;
