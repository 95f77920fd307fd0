-- A disabled user (UserDisabled, until UserEnabled) cannot sign in. The
-- web checks that on the user's stream, not here: this column is for
-- showing it.
alter table Users add column disabled boolean not null default false;
