-- The command side's own state outside the event log. Nothing here is a
-- projection: a replay never drops or rebuilds it.

-- jobset_checks counts, per jobset (its id, which a rename keeps), the
-- checks that found the inputs unchanged, and keeps when the latest
-- ended. Most of these checks append nothing to the log, which is never
-- trimmed (docs/security.md, "Unbounded history and memory"); the web's
-- lastcheckedtime is the later of this time and the read model's.
create table jobset_checks (
    jobset_id        bigint primary key,
    last_checked     bigint not null,
    unchanged_checks bigint not null default 0
);
