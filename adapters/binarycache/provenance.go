package binarycache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo"

	"buildledger/domain/provenance"
)

// provenanceField is the narinfo field that names the signed provenance
// of the path (a DSSE envelope, docs/provenance.md), relative to the
// cache's root as URL is. Nix ignores fields it does not know.
const provenanceField = "Provenance"

// provenanceFile is the name of the envelope of the path with hash part hp.
func provenanceFile(hp string) string { return hp + ".provenance.json" }

// parseNarInfo parses a narinfo as go-nix does, which refuses unknown
// fields, after taking out the Provenance field, which it returns.
func parseNarInfo(r io.Reader) (*narinfo.NarInfo, string, error) {
	var kept bytes.Buffer
	var prov string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, provenanceField+": "); ok {
			prov = v
			continue
		}
		kept.WriteString(line)
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, "", err
	}
	ni, err := narinfo.Parse(&kept)
	return ni, prov, err
}

// PutProvenance stores envelope as the provenance of storePath, next to
// its narinfo, and announces it in the narinfo. The narinfo's signatures
// cover only its fingerprint (path, NAR hash and size, references), so
// they stay valid. It is idempotent; a path the cache does not hold is an
// error.
func (w *FileWriter) PutProvenance(ctx context.Context, storePath string, envelope []byte) error {
	u, ok, err := w.Lookup(ctx, storePath)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("provenance of %s: not in the cache", storePath)
	}
	hp, _ := hashPart(storePath)
	name := provenanceFile(hp)
	file := filepath.Join(w.dir, name)
	if old, err := os.ReadFile(file); err != nil || !bytes.Equal(old, envelope) {
		if err := writeFileAtomic(file, envelope, 0o644); err != nil {
			return fmt.Errorf("provenance of %s: %w", storePath, err)
		}
	}
	if u.Provenance == name {
		return nil
	}
	u.Provenance = name
	if err := writeFileAtomic(filepath.Join(w.dir, hp+".narinfo"), []byte(FormatNarInfo(u)), 0o644); err != nil {
		return fmt.Errorf("provenance of %s: %w", storePath, err)
	}
	return nil
}

// ProvenanceStatements reads the statements the provenance projection
// wrote (adapters/postgres/queries.DB).
type ProvenanceStatements interface {
	// StatementsSince returns up to limit statements of builds that built
	// their outputs, finished after log position after, in log order.
	StatementsSince(ctx context.Context, after int64, limit int) ([]provenance.Record, error)
}

// ProvenancePublisher signs the provenance statements of builds and
// stores them in a file:// cache next to their outputs' narinfos.
type ProvenancePublisher struct {
	Statements ProvenanceStatements
	Key        ed25519.PrivateKey
	Cache      *FileWriter
	Logger     *slog.Logger
}

// Publish stores every statement finished after position after and
// returns the position of the last one (after when there is none). A
// statement whose outputs are not all in this cache (another
// destination's) is skipped with a log line, not retried.
func (p *ProvenancePublisher) Publish(ctx context.Context, after int64) (int64, error) {
	const page = 500
	for {
		recs, err := p.Statements.StatementsSince(ctx, after, page)
		if err != nil {
			return after, err
		}
		for _, r := range recs {
			if err := p.publish(ctx, r); err != nil {
				if ctx.Err() != nil {
					return after, err
				}
				p.Logger.Warn("provenance: not stored in the cache", "build", r.BuildID, "err", err)
			}
			after = r.Position
		}
		if len(recs) < page {
			return after, nil
		}
	}
}

func (p *ProvenancePublisher) publish(ctx context.Context, r provenance.Record) error {
	paths, err := provenance.Subjects(r.Payload)
	if err != nil {
		return err
	}
	env, err := provenance.Sign(p.Key, r.Payload)
	if err != nil {
		return err
	}
	var errs []error
	for _, sp := range paths {
		errs = append(errs, p.Cache.PutProvenance(ctx, sp, env))
	}
	return errors.Join(errs...)
}

// Run publishes what is new every interval until ctx ends, starting from
// the first statement (rewriting an envelope that is already there is a
// no-op).
func (p *ProvenancePublisher) Run(ctx context.Context, every time.Duration) {
	var after int64
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		next, err := p.Publish(ctx, after)
		if err != nil && ctx.Err() == nil {
			p.Logger.Warn("provenance: publish", "err", err)
		}
		after = next
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
