-- The notification outbox (#22), state of the command side outside the log.
--
-- notifier_checkpoints holds each notifier's position in the log: the
-- last event it handled (a notifier reads on from there after a restart).
create table notifier_checkpoints (
    name             text        primary key,
    position_commit  bigint      not null,
    position_prepare bigint      not null,
    saved_at         timestamptz not null default now()
);

-- outbox holds the payload of each queued notification until it settles:
-- the request a forge gets, or a mail with its recipients, which the log
-- names by digest only (NotificationQueued). due is when the next attempt
-- is due; claimed_until holds the row from other workers during one.
-- Notifications of one subject (a commit's status context) go out in the
-- order they were queued (seq): a retried "pending" must not overwrite
-- the "success" queued after it.
create table outbox (
    key           text        primary key,
    subject       text        not null,
    seq           bigserial   not null,
    payload       bytea       not null,
    queued_at     timestamptz not null default now(),
    due           timestamptz not null,
    claimed_until timestamptz
);
create index outbox_due on outbox (due);
create index outbox_subject on outbox (subject, seq);
