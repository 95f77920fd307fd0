-- webhook_deliveries remembers the webhook deliveries handled in the last
-- 24 hours, by delivery id (X-GitHub-Delivery, X-Gitea-Delivery) and by
-- the digest of the signed body, so that a redelivery or a replayed
-- capture does not request evaluations again. The web's webhooks write it
-- before they act, and delete a delivery's rows when acting failed.
create table webhook_deliveries (
    source      text        not null,
    key         text        not null,
    received_at timestamptz not null default now(),
    primary key (source, key)
);
create index webhook_deliveries_received_at on webhook_deliveries (received_at);
