-- 0018_project_renames.sql: the names a project had, so that their URLs
-- answer with a redirect to its name now (#21), as JobsetRenames does for
-- jobsets. Hydra has no such table: it renames a project in place and its
-- old URLs are gone. A later rename of the project updates to_ through the
-- key; deleting the project deletes its old names.
create table ProjectRenames (
    from_ text primary key not null,
    to_   text not null,
    foreign key (to_) references Projects (name) on delete cascade on update cascade
);
