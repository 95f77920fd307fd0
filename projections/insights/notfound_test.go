package insights_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/projections"
	"buildledger/projections/insights"
)

// down is a read-model database whose connection drops inside the
// transaction: every statement fails.
type down struct{}

var errDown = errors.New("unexpected EOF")

func (down) InTx(ctx context.Context, fn func(projections.Tx) error) error { return fn(down{}) }

func (down) Exec(context.Context, string, ...any) error { return errDown }

func (down) QueryRow(context.Context, string, ...any) projections.Row { return down{} }

func (down) Scan(...any) error { return errDown }

func (down) Query(context.Context, string, ...any) (projections.Rows, error) { return nil, errDown }

func (down) CopyFrom(context.Context, string, []string, [][]any) error { return errDown }

func (down) ExecAll(context.Context, []projections.Statement) error { return errDown }

// TestUnknownBuild: a build the read models do not know is
// domainerr.ErrNotFound, and a database that fails is not: the web
// answers the first 404 and the second 5xx.
func TestUnknownBuild(t *testing.T) {
	s := newSeeded(t)
	s.project()
	ctx := context.Background()
	tests := []struct {
		name     string
		db       projections.DB
		notFound bool
	}{
		{"unknown build", s.DB, true},
		{"database down", down{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := insights.BuildBlockers(ctx, tt.db, 404)
			require.Error(t, err)
			require.Equal(t, !tt.notFound, errors.Is(err, errDown), "the failure is kept: %v", err)
			require.Equal(t, tt.notFound, errors.Is(err, domainerr.ErrNotFound), "BuildBlockers: %v", err)
			_, err = insights.BuildFailureOrigin(ctx, tt.db, 404)
			require.Error(t, err)
			require.Equal(t, tt.notFound, errors.Is(err, domainerr.ErrNotFound), "BuildFailureOrigin: %v", err)
		})
	}
}
