package translog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
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
	if err := writeFileAtomic(file, raw); err != nil {
		return Checkpoint{}, err
	}
	if err := w.Log.PostCosignature(ctx, []byte(n.Text+"\n"+line)); err != nil {
		return cp, err
	}
	return cp, nil
}

// TrustOnFirstUse returns the log key a witness keeps in state, or, the
// first time, the key the log serves at /tlog/key, which it then keeps:
// later runs trust only that key, so a log that changes its key is
// refused. It returns the key and its text; first says the key was
// fetched now and is not yet checked out of band.
func TrustOnFirstUse(ctx context.Context, log *Client, state string) (v note.Verifier, vkey string, first bool, err error) {
	file := filepath.Join(state, "log.vkey")
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if b, err = log.get(ctx, "key"); err != nil {
			return nil, "", false, err
		}
		first = true
	case err != nil:
		return nil, "", false, fmt.Errorf("witness state: %w", err)
	}
	vkey = strings.TrimSpace(string(b))
	if v, err = note.NewVerifier(vkey); err != nil {
		return nil, "", false, fmt.Errorf("log key %q: %w", vkey, err)
	}
	if first {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, "", false, fmt.Errorf("witness state: %w", err)
		}
		if err := writeFileAtomic(file, []byte(vkey+"\n")); err != nil {
			return nil, "", false, err
		}
	}
	return v, vkey, first, nil
}

// writeFileAtomic replaces file with b, so a crash leaves the old or the
// new content.
func writeFileAtomic(file string, b []byte) error {
	tmp := file + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return nil
}
