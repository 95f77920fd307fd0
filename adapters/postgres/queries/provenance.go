package queries

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"buildledger/adapters/binarycache"
	"buildledger/domain/provenance"
	"buildledger/web"
)

var (
	_ web.ProvenanceStatements         = (*DB)(nil)
	_ binarycache.ProvenanceStatements = (*DB)(nil)
)

// Statement implements web.ProvenanceStatements: the in-toto statement of
// a build, as the provenance projection wrote it.
func (d *DB) Statement(ctx context.Context, buildID int64) ([]byte, error) {
	var payload []byte
	err := d.pool.QueryRow(ctx, `select payload from provenance_statements where build_id = $1`, buildID).Scan(&payload)
	if err != nil {
		return nil, notFound(err, "provenance of build", strconv.FormatInt(buildID, 10))
	}
	return payload, nil
}

// StatementsSince implements binarycache.ProvenanceStatements.
func (d *DB) StatementsSince(ctx context.Context, after int64, limit int) ([]provenance.Record, error) {
	rows, err := d.pool.Query(ctx, `select build_id, finished_position, payload from provenance_statements
		where finished_position > $1 and build_id = run_build_id order by finished_position limit $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("query provenance statements: %w", err)
	}
	recs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[provenance.Record])
	if err != nil {
		return nil, fmt.Errorf("query provenance statements: %w", err)
	}
	return recs, nil
}
