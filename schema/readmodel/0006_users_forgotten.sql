-- A forgotten user keeps their row, so projects they own still name
-- them, but with no profile, no password and no roles; sessions and
-- tokens of the user are refused.
alter table Users add column forgotten boolean not null default false;
