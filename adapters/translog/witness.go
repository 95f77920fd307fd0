package translog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Witness cosigns a log's checkpoints, each only after proving it
// consistent with the last one it cosigned, which it keeps in State.
type Witness struct {
	Log      *Client
	Cosigner *Cosigner
	// State is the witness's directory; it holds the file checkpoint.
	State string
	Now   func() time.Time
}

// Cosign fetches the log's checkpoint, proves it consistent with the
// last one cosigned, remembers and cosigns it and posts the cosignature
// back. A fork is an ErrFork and nothing is signed.
func (w *Witness) Cosign(ctx context.Context) (Checkpoint, error) {
	raw, n, cp, err := w.Log.Checkpoint(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	file := filepath.Join(w.State, "checkpoint")
	old, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Checkpoint{}, fmt.Errorf("witness state: %w", err)
	default:
		_, prev, err := OpenCheckpoint(old, w.Log.log)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("witness state %s: %w", file, err)
		}
		if err := w.Log.ProveConsistency(ctx, prev, cp); err != nil {
			return Checkpoint{}, fmt.Errorf("refusing to cosign %d leaves: %w", cp.Tree.N, err)
		}
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	line := w.Cosigner.Cosign(n.Text, now())
	if err := os.MkdirAll(w.State, 0o700); err != nil {
		return Checkpoint{}, fmt.Errorf("witness state: %w", err)
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return Checkpoint{}, fmt.Errorf("witness state: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return Checkpoint{}, fmt.Errorf("witness state: %w", err)
	}
	if err := w.Log.PostCosignature(ctx, []byte(n.Text+"\n"+line)); err != nil {
		return cp, err
	}
	return cp, nil
}
