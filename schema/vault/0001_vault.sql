-- The vault: secrets and keys the command side keeps outside the event
-- log. Nothing here is a projection: a replay never drops or rebuilds it,
-- and events only name its rows (a user name, a key id).

-- credentials holds each user's password hash (argon2id PHC string).
-- Login reads it; the log only says a password was set or changed.
create table credentials (
    user_name     text        primary key,
    password_hash text        not null,
    updated_at    timestamptz not null default now()
);

-- user_keys holds the AES-256 keys that seal users' profiles (full name,
-- email address) in events. Forgetting a user sets secret to null and
-- destroyed_at: the profiles sealed with it can never be read again.
create table user_keys (
    key_id       uuid        primary key,
    user_name    text        not null,
    secret       bytea       check (secret is null or length(secret) = 32),
    created_at   timestamptz not null default now(),
    destroyed_at timestamptz,
    check ((secret is null) = (destroyed_at is not null))
);
create index user_keys_user_name on user_keys (user_name);

-- Hashes recorded before this migration live in the live read model
-- (they came from UserCreated/UserUpdated version 1, which readers no
-- longer decode with their hash): move them here, and blank the column,
-- which the projection no longer fills.
do $$
begin
    if to_regclass('public.users') is not null then
        insert into credentials (user_name, password_hash)
            select username, password from public.users where password <> ''
            on conflict (user_name) do nothing;
        update public.users set password = '' where password <> '';
    end if;
end $$;
