package gcroots

import (
	"context"
	"log/slog"
	"time"
)

// Keeper updates a roots directory from the read models, now and then
// every Interval.
type Keeper struct {
	// DB reads the Hydra tables.
	DB Querier
	// Dir holds the roots; for the collector to see them it must be under
	// /nix/var/nix/gcroots (Hydra: gcroots/per-user/$LOGNAME/hydra-roots).
	Dir string
	// Store is the store directory the paths are in. Default /nix/store.
	Store string
	// Interval between updates. Default 10 minutes.
	Interval time.Duration
	// Log receives a line per update that changed something, and errors.
	Log *slog.Logger
}

// Update selects the roots and syncs the directory once.
func (k *Keeper) Update(ctx context.Context) (Result, error) {
	paths, err := Select(ctx, k.DB, time.Now().Unix())
	if err != nil {
		return Result{}, err
	}
	store := k.Store
	if store == "" {
		store = "/nix/store"
	}
	return Sync(k.Dir, store, paths)
}

// Run updates until ctx is done. A failed update is logged and tried again
// at the next tick: the roots of the update before stay in place.
func (k *Keeper) Run(ctx context.Context) error {
	interval := k.Interval
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	log := k.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := k.Update(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("update gc roots", "dir", k.Dir, "err", err)
		case err == nil && (res.Added > 0 || res.Removed > 0):
			log.Info("gc roots updated", "dir", k.Dir, "kept", res.Kept, "added", res.Added, "removed", res.Removed, "missing", res.Missing)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
