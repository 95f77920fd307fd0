-- A machine's speed factor, which Hydra's /machines sends (speedFactor).
-- Rows written before this column get 1 until a replay refills them.
alter table insight_machines add column speed_factor double precision not null default 1;
