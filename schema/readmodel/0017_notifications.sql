-- The notification outbox as read models (#22): one row per notification
-- and one per delivery attempt, for the Notifications tabs of builds and
-- jobsets. Hydra's TaskRetries (0010) is filled from the same events.
create table notifications (
    key          text primary key not null,
    plugin       text not null,
    channel      text not null,
    target       text not null,
    digest       text not null,
    build_id     integer,
    eval_id      integer,
    project      text,
    jobset       text,
    queued_at    integer not null,
    -- queued, delivered, retrying or failed (given up).
    state        text not null,
    attempts     integer not null default 0
);
create index notifications_build on notifications (build_id) where build_id is not null;
create index notifications_jobset on notifications (project, jobset, queued_at desc);

create table notification_attempts (
    key        text not null references notifications (key) on delete cascade,
    attempt    integer not null,
    at         integer not null,
    delivered  boolean not null,
    -- the receiver's answer, or the error.
    detail     text not null,
    retry_at   integer,
    primary key (key, attempt)
);

-- TaskRetries.payload holds the notification's key: one row per
-- notification waiting for another attempt.
create unique index TaskRetries_payload on TaskRetries (payload);
