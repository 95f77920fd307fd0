package hydra

import "buildledger/events"

// Hydra's RunCommandLogs: a row per RunCommand run, from its start, with
// Hydra's columns for how it ended. A run of a build that is gone (a
// removed jobset's) has no row, as Hydra's cascade would leave none.

func runCommandStarted(w *writer, p *events.RunCommandStarted) error {
	return w.exec(`insert into RunCommandLogs (uuid, job_matcher, build_id, command, start_time)
		select $1, $2, $3, $4, $5 where exists (select 1 from Builds where id = $3)
		on conflict (uuid) do nothing`, p.UUID, p.JobMatcher, p.BuildID, p.Command, p.StartTime)
}

func runCommandFinished(w *writer, p *events.RunCommandFinished) error {
	return w.exec(`update RunCommandLogs set end_time = $2, error_number = $3, exit_code = $4, signal = $5, core_dumped = $6
		where uuid = $1`, p.UUID, p.EndTime, p.ErrorNumber, p.ExitCode, p.Signal, p.CoreDumped)
}
