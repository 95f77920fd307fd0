-- Reproducibility rebuilds (OutputVerified): one row per output rebuilt,
-- with both NAR hashes; a jobset's are those of the derivations its
-- builds ran (insight_step_results) or are (insight_builds.drv_path).
create table insight_verifications (
    event_id          text primary key,
    position          bigint not null,    -- commit position, for the order
    drv_path          text not null,
    output            text not null,
    path              text not null,
    machine           text not null,
    original_machine  text not null,
    nar_hash          text not null,
    original_nar_hash text not null,
    matches           boolean not null,
    first_difference  text,
    verified_at       timestamptz not null
);
create index insight_verifications_drv on insight_verifications (drv_path);
create index insight_step_results_build on insight_step_results (build_id);
