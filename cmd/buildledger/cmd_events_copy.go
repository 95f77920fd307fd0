package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/events"
)

// runEventsCopy copies the whole log from one store to another, keeping
// streams, revisions, event ids and metadata. It is resumable: events the
// target already holds are appended again with the same ids at the same
// revisions, which both stores treat as a no-op.
func runEventsCopy(ctx context.Context, a *app, args []string) error {
	var cfg config
	var from, to string
	fs := a.newFlagSet("events copy", "events copy --from postgres|esdb://… --to postgres|esdb://… [flags]")
	cfg.register(fs, false)
	fs.StringVar(&from, "from", "", "source event store: postgres (the log in --database-url or the private cluster) or esdb://…")
	fs.StringVar(&to, "to", "", "target event store, as --from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if from == "" || to == "" {
		return errors.New("--from and --to are required")
	}
	if from == to {
		return errors.New("--from and --to name the same store")
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		src, closeSrc, err := sys.openStore(ctx, from)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		defer closeSrc()
		dst, closeDst, err := sys.openStore(ctx, to)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		defer closeDst()
		head, err := src.Head(ctx)
		if err != nil {
			return err
		}
		bar := newProgress(a.stderr, head.Commit)
		n, err := copyLog(ctx, src, dst, func(pos events.Position, copied int64) { bar.update(pos.Commit, copied) })
		bar.done()
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "copied %d events from %s to %s\n", n, from, to)
		return nil
	})
}

// openStore opens the store a --from/--to value names.
func (s *system) openStore(ctx context.Context, name string) (events.Store, func(), error) {
	switch {
	case name == "postgres" || name == "pglog":
		return pglog.New(s.pool, pglog.Options{}), func() {}, nil
	case strings.HasPrefix(name, "esdb"):
		return openESDB(ctx, name, s.log)
	}
	return nil, nil, fmt.Errorf("%q: want postgres or an esdb:// connection string", name)
}

// copyLog appends every event of src to dst, runs of one stream in one
// append with the exact expected revision.
func copyLog(ctx context.Context, src, dst events.Store, progress func(events.Position, int64)) (int64, error) {
	var copied int64
	after := events.Start
	for {
		batch, err := src.ReadAll(ctx, after, 1000)
		if err != nil {
			return copied, err
		}
		if len(batch) == 0 {
			return copied, nil
		}
		for i := 0; i < len(batch); {
			j := i + 1
			for j < len(batch) && batch[j].Stream == batch[i].Stream && batch[j].Revision == batch[j-1].Revision+1 {
				j++
			}
			run := make([]events.Event, 0, j-i)
			for _, r := range batch[i:j] {
				run = append(run, events.Event{ID: r.ID, Type: r.Type, Version: r.Version, Data: r.Data, Metadata: r.Metadata})
			}
			expect := events.NoStream
			if first := batch[i].Revision; first > 0 {
				expect = events.Exact(first - 1)
			}
			if _, err := dst.Append(ctx, batch[i].Stream, expect, run...); err != nil {
				return copied, fmt.Errorf("copy %s@%d: %w", batch[i].Stream, batch[i].Revision, err)
			}
			copied += int64(j - i)
			i = j
		}
		after = batch[len(batch)-1].Position
		progress(after, copied)
	}
}
