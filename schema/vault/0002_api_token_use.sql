-- api_token_use holds when each API token was last used. The web writes
-- it at most once a minute per token: a request changes no state worth
-- an event, and a projection's column would be lost at every replay.
create table api_token_use (
    token_id     text        primary key,
    last_used_at timestamptz not null
);
