package projections_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/projections"
	"buildledger/projections/adhoc"
	"buildledger/projections/analytics"
	"buildledger/projections/hydra"
	"buildledger/projections/insights"
	"buildledger/projections/ledger"
	"buildledger/projections/notifications"
	"buildledger/projections/provenance"
	"buildledger/projections/sqlproj"
	"buildledger/projections/tokens"
)

// TestEveryPackageIsAProjection keeps projections/ for projections: each
// package directly under it lists the projections it provides here, which
// the compiler checks against projections.Projection. A consumer of the log
// that decides and acts instead belongs in commands/reactors.
func TestEveryPackageIsAProjection(t *testing.T) {
	provides := map[string][]projections.Projection{
		"adhoc":         {adhoc.Projection{}},
		"analytics":     {analytics.BuildDuration{}, analytics.QueueWait{}},
		"hydra":         {hydra.Projection{}},
		"insights":      {insights.Projection{}},
		"ledger":        {ledger.Projection{}},
		"notifications": {notifications.Projection{}},
		"provenance":    {provenance.Projection{}},
		"sqlproj":       {(*sqlproj.Projection)(nil)},
		"tokens":        {tokens.Projection{}},
	}
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	dirs := 0
	for _, e := range entries {
		if e.IsDir() {
			dirs++
			require.NotEmpty(t, provides[e.Name()], "package %s under projections/ is not a projection", e.Name())
		}
	}
	require.Len(t, provides, dirs, "a package listed here is gone")
}
