package queries

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/adapters/logstore"
	"buildledger/domain/runcommand"
	"buildledger/web"
)

const runCommandCols = `uuid::text, job_matcher, build_id, command, start_time, end_time, error_number, exit_code, signal, core_dumped`

func scanRunCommandLog(row pgx.Row) (web.RunCommandLog, error) {
	var l web.RunCommandLog
	err := row.Scan(&l.UUID, &l.JobMatcher, &l.BuildID, &l.Command, &l.StartTime, &l.EndTime, &l.ErrorNumber, &l.ExitCode, &l.Signal, &l.CoreDumped)
	l.Location = logstore.Location(runcommand.LogName(l.UUID), 0)
	return l, err
}

// RunCommandLog implements web.LogQueries.
func (db *DB) RunCommandLog(ctx context.Context, uuid string) (web.RunCommandLog, error) {
	l, err := scanRunCommandLog(db.pool.QueryRow(ctx, `select `+runCommandCols+` from RunCommandLogs where uuid = $1::uuid`, uuid))
	if err != nil {
		return web.RunCommandLog{}, notFound(err, "RunCommand log", uuid)
	}
	return l, nil
}

// RunCommandLogs implements web.LogQueries: newest first, as Hydra's tab.
func (db *DB) RunCommandLogs(ctx context.Context, buildID int64) ([]web.RunCommandLog, error) {
	rows, err := db.pool.Query(ctx, `select `+runCommandCols+` from RunCommandLogs where build_id = $1 order by id desc`, buildID)
	if err != nil {
		return nil, fmt.Errorf("RunCommand logs of build %d: %w", buildID, err)
	}
	defer rows.Close()
	var out []web.RunCommandLog
	for rows.Next() {
		l, err := scanRunCommandLog(rows)
		if err != nil {
			return nil, fmt.Errorf("RunCommand logs of build %d: %w", buildID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
