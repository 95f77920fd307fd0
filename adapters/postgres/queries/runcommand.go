package queries

import (
	"context"

	"buildledger/adapters/logstore"
	"buildledger/domain/runcommand"
	"buildledger/web"
)

// RunCommandLog implements web.LogQueries.
func (db *DB) RunCommandLog(ctx context.Context, uuid string) (web.RunCommandLog, error) {
	l := web.RunCommandLog{Location: logstore.Location(runcommand.LogName(uuid), 0)}
	err := db.pool.QueryRow(ctx, `select uuid::text, job_matcher, build_id, command, start_time, end_time, error_number, exit_code,
			signal, core_dumped
		from RunCommandLogs where uuid = $1::uuid`, uuid).
		Scan(&l.UUID, &l.JobMatcher, &l.BuildID, &l.Command, &l.StartTime, &l.EndTime, &l.ErrorNumber, &l.ExitCode, &l.Signal, &l.CoreDumped)
	if err != nil {
		return web.RunCommandLog{}, notFound(err, "RunCommand log", uuid)
	}
	return l, nil
}
