// Package adhoc projects the submissions of ad-hoc builds (issue 25) into
// the read model adhoc_submissions: who submitted each build, through
// which door (SSH key or API token), with which client, and how large the
// submitted closure was. The closure's graph itself stays in the log's
// AdhocBuildSubmitted, which the build's Events tab shows whole.
package adhoc

import (
	"context"
	"fmt"

	"buildledger/events"
	"buildledger/projections"
)

// Projection writes adhoc_submissions.
type Projection struct{}

var (
	_ projections.Projection = Projection{}
	_ projections.EventTyper = Projection{}
)

// Name implements projections.Projection.
func (Projection) Name() string { return "adhoc" }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (Projection) UsesMetadata() bool { return false }

// EventTypes implements projections.EventTyper.
func (Projection) EventTypes() []string { return []string{events.AdhocBuildSubmitted{}.EventType()} }

// Apply implements projections.Projection. A build is submitted once; a
// second event for it (none is appended) would change nothing.
func (Projection) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	for _, ev := range batch {
		p, ok := ev.Payload.(*events.AdhocBuildSubmitted)
		if !ok {
			continue
		}
		if err := tx.Exec(ctx, `insert into adhoc_submissions (build_id, user_name, via, key_fingerprint, client_version,
				drv_path, nr_paths, nr_edges, submitted_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (build_id) do nothing`,
			p.BuildID, p.UserName, p.Via, p.KeyFingerprint, p.ClientVersion, p.DrvPath, len(p.Paths), len(p.Edges), p.Timestamp); err != nil {
			return fmt.Errorf("adhoc_submissions: event %s (build %d): %w", ev.ID, p.BuildID, err)
		}
	}
	return nil
}
