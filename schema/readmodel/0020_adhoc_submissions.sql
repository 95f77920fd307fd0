-- 0020_adhoc_submissions.sql: who submitted each ad-hoc build and how
-- (#25), for the Submission panel of its build page. Fed by
-- AdhocBuildSubmitted (projections/adhoc); the closure's paths and edges
-- stay in the log, counted here.
create table adhoc_submissions (
    build_id        integer primary key,
    user_name       text not null,
    via             text not null,
    -- the SSH key's fingerprint (via ssh) or the API token's id (via api).
    key_fingerprint text not null,
    -- the serve protocol version the client announced; empty via api.
    client_version  text not null,
    drv_path        text not null,
    nr_paths        integer not null,
    nr_edges        integer not null,
    submitted_at    integer not null
);

create index adhoc_submissions_user on adhoc_submissions (user_name, build_id desc);
