-- :system is the event's "system" field.
insert into {{table "per_system"}} (system, steps) values (:system, 1)
on conflict (system) do update set steps = {{table "per_system"}}.steps + 1;
