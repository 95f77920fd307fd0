insert into {{table "per_system"}} as t (system, steps, with_inputs, last_drv, last_at)
values (:system, 1, case when :inputDrvs::text is null then 0 else 1 end, :drvPath, :_recordedAt)
on conflict (system) do update set steps = t.steps + 1, with_inputs = t.with_inputs + excluded.with_inputs,
    last_drv = excluded.last_drv, last_at = excluded.last_at;
-- a second statement in the same file, with a string containing ';' and ':x'
update {{table "per_system"}} set last_drv = last_drv where system = :system and 'a;b:x' <> '';
