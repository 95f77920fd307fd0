package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"buildledger/commands/reactors"
	"buildledger/events"
)

// SnapshotName names the scheduler's snapshots in a
// reactors.SnapshotStore.
const SnapshotName = "scheduler"

// Defaults of Options.SnapshotEvery and Options.SnapshotInterval.
const (
	DefaultSnapshotEvery    = 100_000
	DefaultSnapshotInterval = 5 * time.Minute
)

// eventRef is the last event the model folded, which a snapshot names.
type eventRef struct {
	stream   string
	revision uint64
	id       string
	pos      events.Position
}

// loadSnapshot starts the model from the kept snapshot, if there is one
// this scheduler can use: of the format it writes, with its
// configuration, and of this log (the event it names is read back at its
// position). Anything else is logged and leaves the model empty, to be
// folded from the start. It runs before anything is folded.
func (s *Scheduler) loadSnapshot(ctx context.Context) {
	t0 := time.Now()
	snap, err := s.opts.Snapshots.LoadSnapshot(ctx, SnapshotName)
	if errors.Is(err, reactors.ErrNoSnapshot) {
		s.log.Info("scheduler: no snapshot; folding the whole log")
		return
	}
	var m *Model
	if err == nil {
		m, err = s.readSnapshot(ctx, snap)
	}
	if err != nil {
		s.log.Warn("scheduler: snapshot not used; folding the whole log", "err", err)
		return
	}
	s.mu.Lock()
	s.model, s.pos = m, snap.Position
	s.last = eventRef{stream: snap.Stream, revision: snap.Revision, id: snap.EventID, pos: snap.Position}
	s.mu.Unlock()
	s.log.Info("scheduler: model read from its snapshot", "position", snap.Position, "bytes", len(snap.State),
		"builds", len(m.builds), "steps", len(m.steps), "took", time.Since(t0))
}

// readSnapshot checks that snap is of this format and of this log, and
// decodes it.
func (s *Scheduler) readSnapshot(ctx context.Context, snap reactors.Snapshot) (*Model, error) {
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("snapshot format %d, not %d", snap.Version, snapshotVersion)
	}
	recs, err := s.rt.Store().ReadStream(ctx, snap.Stream, snap.Revision, 1)
	if err != nil && !errors.Is(err, events.ErrStreamNotFound) {
		return nil, fmt.Errorf("read back the snapshot's last event: %w", err)
	}
	if len(recs) == 0 || recs[0].Revision != snap.Revision || recs[0].ID != snap.EventID || recs[0].Position != snap.Position {
		return nil, fmt.Errorf("snapshot of another log: event %s at %s@%d, position %v, is not in this one",
			snap.EventID, snap.Stream, snap.Revision, snap.Position)
	}
	return UnmarshalSnapshot(s.opts.Config, snap.State)
}

// SaveSnapshot keeps a snapshot of the model as folded so far, if it
// folded anything since the last one and has a snapshot store. The model
// is encoded under the lock (writeSnapshot says why) and stored outside
// it.
func (s *Scheduler) SaveSnapshot(ctx context.Context) error {
	s.mu.Lock()
	if s.opts.Snapshots == nil || s.last.id == "" || s.folded == s.snapFolded {
		s.mu.Unlock()
		return nil
	}
	t0 := time.Now()
	var buf bytes.Buffer
	err := s.model.writeSnapshot(&buf)
	last, folded := s.last, s.folded
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("scheduler snapshot: %w", err)
	}
	locked := time.Since(t0)
	data := buf.Bytes()
	err = s.opts.Snapshots.SaveSnapshot(ctx, SnapshotName, reactors.Snapshot{Version: snapshotVersion, Position: last.pos,
		Stream: last.stream, Revision: last.revision, EventID: last.id, State: data})
	if err != nil {
		return fmt.Errorf("scheduler snapshot: %w", err)
	}
	s.mu.Lock()
	s.snapFolded = max(s.snapFolded, folded)
	s.mu.Unlock()
	s.log.Debug("scheduler: snapshot saved", "position", last.pos, "bytes", len(data), "locked", locked, "took", time.Since(t0))
	return nil
}

// snapshotDue reports whether SnapshotEvery events were folded since the
// last snapshot.
func (s *Scheduler) snapshotDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.folded-s.snapFolded >= s.opts.SnapshotEvery
}

// snapshot saves a snapshot, logging a failure: the next one may succeed,
// and meanwhile a cold start only folds more of the log.
func (s *Scheduler) snapshot(ctx context.Context) {
	if err := s.SaveSnapshot(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("scheduler: snapshot not saved", "err", err)
	}
}

// finalSnapshot saves a snapshot when Run stops cleanly, after its
// context ended, so that the next start folds nothing but what comes
// after.
func (s *Scheduler) finalSnapshot(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.snapshot(ctx)
}
