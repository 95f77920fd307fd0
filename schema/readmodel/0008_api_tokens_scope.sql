-- Tokens have a scope (read, eval, admin) and may have been minted by an
-- admin for their user. Tokens recorded before scopes existed read as
-- "eval" (the upcaster of APITokenCreated version 1 says the same).
alter table api_tokens add column scope text not null default 'eval';
alter table api_tokens add column minted_by text;

-- No projection ever wrote last_used_at: token use is recorded in
-- vault.api_token_use instead, which replays keep.
alter table api_tokens drop column if exists last_used_at;
