// Package audit checks the ledger's hash chain: it walks the log (or one
// stream) with an events.ChainVerifier, signs checkpoints of its head, and
// proves a log still matches a checkpoint.
package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"buildledger/events"
)

// VerifyOptions tunes VerifyLog.
type VerifyOptions struct {
	// Stream, if set, verifies only this stream's chain (from its first
	// event); the head hash then covers only that stream.
	Stream string
	// Until, if not Start, stops after the event at this position.
	Until events.Position
	// PageSize is how many events are read per page. Default 5000.
	PageSize int
	// OnProgress, if set, is called after each page or batch.
	OnProgress func(n uint64, last events.Position)
	// Readers, if above 0, reads the log in pages with ReadAll, that many
	// at once, even from a store that is a ChainReader (which is read in
	// one stream otherwise). Above 1 only for a log whose positions are
	// gapless integers (the Postgres log): page i is read as the events
	// after position i*PageSize, and a page that does not hold exactly
	// the positions it should is an error.
	Readers int
}

// VerifyResult is what VerifyLog found.
type VerifyResult struct {
	// Events is how many events were verified.
	Events uint64
	// Position is the position of the last verified event.
	Position events.Position
	// HeadHash is the running hash over the verified events (NextHeadHash).
	HeadHash string
	// Break is the first broken link, or nil when the chain holds.
	Break *events.Break
}

// VerifyLog walks the log (or one stream) in order and checks the hash
// chain of every event with a ChainVerifier. A broken chain is reported in
// the result, not as an error; errors are failures to read.
func VerifyLog(ctx context.Context, store events.Store, opts VerifyOptions) (VerifyResult, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = 5000
	}
	v := events.NewChainVerifier()
	var (
		res VerifyResult
		err error
	)
	cr, streams := store.(events.ChainReader)
	switch {
	case opts.Stream != "":
		res.Break, err = verifyStream(ctx, store, opts, v)
	case streams && opts.Readers == 0:
		res.Break, err = verifyChain(ctx, cr, opts, v)
	default:
		res.Break, err = verifyPages(ctx, store, opts, v)
	}
	res.HeadHash, res.Events, res.Position = v.Head()
	return res, err
}

// addPage adds recs to v up to opts.Until. It returns the first break, and
// whether to stop.
func addPage(v *events.ChainVerifier, opts VerifyOptions, recs []events.Recorded) (*events.Break, bool) {
	for _, r := range recs {
		if past(opts.Until, r.Position) {
			return nil, true
		}
		if err := v.Add(r); err != nil {
			var br *events.Break
			errors.As(err, &br)
			return br, true
		}
	}
	return nil, false
}

// past reports whether pos lies after until (never when until is Start).
func past(until, pos events.Position) bool { return !until.IsStart() && until.Less(pos) }

// progress reports v's progress to opts.OnProgress, if set.
func progress(v *events.ChainVerifier, opts VerifyOptions) {
	if opts.OnProgress != nil {
		_, n, last := v.Head()
		opts.OnProgress(n, last)
	}
}

// verifyStream verifies one stream's chain, read page by page.
func verifyStream(ctx context.Context, store events.Store, opts VerifyOptions, v *events.ChainVerifier) (*events.Break, error) {
	for from := uint64(0); ; {
		batch, err := store.ReadStream(ctx, opts.Stream, from, opts.PageSize)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", opts.Stream, err)
		}
		if len(batch) == 0 {
			return nil, nil
		}
		if br, stop := addPage(v, opts, batch); stop {
			return br, nil
		}
		from = batch[len(batch)-1].Revision + 1
		progress(v, opts)
	}
}

// verifyPages verifies the log read page by page with ReadAll, the next
// pages read while one is verified.
func verifyPages(ctx context.Context, store events.Store, opts VerifyOptions, v *events.ChainVerifier) (*events.Break, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 2)
	if opts.Readers > 1 {
		go readPagesParallel(ctx, store, opts.PageSize, opts.Readers, pages)
	} else {
		go readPages(ctx, store, opts.PageSize, pages)
	}
	for p := range pages {
		if p.err != nil {
			return nil, fmt.Errorf("verify the log after %d: %w", p.after.Commit, p.err)
		}
		if len(p.recs) == 0 {
			return nil, nil
		}
		if br, stop := addPage(v, opts, p.recs); stop {
			return br, nil
		}
		progress(v, opts)
	}
	return nil, ctx.Err()
}

// verifyChain verifies the log streamed by a ChainReader in a pipeline:
// the store reads and splits the log into batches, one worker per CPU
// decodes their metadata and hashes their events, and this goroutine
// checks the hashed events in log order.
func verifyChain(ctx context.Context, cr events.ChainReader, opts VerifyOptions, v *events.ChainVerifier) (*events.Break, error) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *batch)
	order := make(chan *batch, 2*workers)
	var readErr error
	wg.Go(func() {
		defer close(order)
		defer close(work)
		readErr = cr.ReadChain(ctx, opts.Until, func(links []events.ChainLink) error {
			b := &batch{links: links, hashed: make(chan struct{})}
			for _, ch := range []chan<- *batch{order, work} {
				select {
				case ch <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	})
	for range workers {
		wg.Go(func() {
			var buf []byte
			for b := range work {
				b.h, buf = events.HashLinks(b.links, buf)
				close(b.hashed)
			}
		})
	}
	for b := range order {
		select {
		case <-b.hashed:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		br, stop, err := v.AddHashed(b.h, opts.Until)
		switch {
		case err != nil:
			return nil, fmt.Errorf("verify the log: %w", err)
		case stop:
			return br, nil
		}
		progress(v, opts)
	}
	if readErr != nil {
		return nil, fmt.Errorf("verify the log: %w", readErr)
	}
	return nil, nil
}

// batch is one batch of a ChainReader on its way through verifyChain:
// hashed by a worker, then checked in log order.
type batch struct {
	links  []events.ChainLink
	h      *events.HashedLinks
	hashed chan struct{}
}

type page struct {
	after events.Position
	recs  []events.Recorded
	err   error
}

// readPages sends the log page by page to out, ending with an empty page
// or an error, and closes out.
func readPages(ctx context.Context, store events.Store, size int, out chan<- page) {
	defer close(out)
	for after := events.Start; ; {
		recs, err := store.ReadAll(ctx, after, size)
		select {
		case out <- page{after: after, recs: recs, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil || len(recs) == 0 {
			return
		}
		after = recs[len(recs)-1].Position
	}
}

// readPagesParallel is readPages with readers pages in flight at once, for
// a gapless log; pages are still sent in order.
func readPagesParallel(ctx context.Context, store events.Store, size, readers int, out chan<- page) {
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		after events.Position
		res   chan page
	}
	jobs := make(chan job)
	order := make(chan chan page, readers)
	go func() {
		defer close(order)
		for i := uint64(0); ; i++ {
			j := job{after: events.At(i * uint64(size)), res: make(chan page, 1)}
			select {
			case order <- j.res:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < readers; w++ {
		go func() {
			for {
				select {
				case j := <-jobs:
					recs, err := store.ReadAll(ctx, j.after, size)
					if err == nil && len(recs) > 0 && (recs[0].Position.Commit != j.after.Commit+1 || recs[len(recs)-1].Position.Commit != j.after.Commit+uint64(len(recs))) {
						err = fmt.Errorf("positions after %d are not gapless (%d..%d in %d events): read with one reader", j.after.Commit, recs[0].Position.Commit, recs[len(recs)-1].Position.Commit, len(recs))
					}
					j.res <- page{after: j.after, recs: recs, err: err}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for res := range order {
		var p page
		select {
		case p = <-res:
		case <-ctx.Done():
			return
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return
		}
		if p.err != nil || len(p.recs) < size {
			return
		}
	}
}

// Checkpoint is an auditor's signed statement of the log's head: the log
// held Events events up to Position, and their running head hash was
// HeadHash, at Time. Anyone with the public key can later check that the
// log still begins with exactly those events (ProveCheckpoint).
type Checkpoint struct {
	Position events.Position `json:"position"`
	Events   uint64          `json:"events"`
	HeadHash string          `json:"headHash"`
	Time     time.Time       `json:"time"`
	// PublicKey is the hex ed25519 key that signed, for reference only:
	// a proof uses the key the auditor trusts, never this field.
	PublicKey string `json:"publicKey"`
	// Signature is the hex ed25519 signature of SignedBytes.
	Signature string `json:"signature"`
}

// SignedBytes is the exact message a checkpoint's signature covers.
func (c Checkpoint) SignedBytes() []byte {
	s := "buildledger-checkpoint-v1\n" +
		strconv.FormatUint(c.Position.Commit, 10) + "\n" +
		strconv.FormatUint(c.Position.Prepare, 10) + "\n" +
		strconv.FormatUint(c.Events, 10) + "\n" +
		c.HeadHash + "\n" +
		c.Time.UTC().Format(time.RFC3339Nano) + "\n"
	return []byte(s)
}

// NewCheckpoint signs the head described by res at time now.
func NewCheckpoint(res VerifyResult, now time.Time, key ed25519.PrivateKey) Checkpoint {
	c := Checkpoint{Position: res.Position, Events: res.Events, HeadHash: res.HeadHash, Time: now.UTC().Truncate(time.Microsecond)}
	c.PublicKey = hex.EncodeToString(key.Public().(ed25519.PublicKey))
	c.Signature = hex.EncodeToString(ed25519.Sign(key, c.SignedBytes()))
	return c
}

// ErrProofFailed means the log does not match a checkpoint.
var ErrProofFailed = errors.New("the log does not match the checkpoint")

// CheckSignature reports whether c was signed by pub.
func (c Checkpoint) CheckSignature(pub ed25519.PublicKey) error {
	sig, err := hex.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.SignedBytes(), sig) {
		return fmt.Errorf("checkpoint signature does not verify with the given public key")
	}
	return nil
}

// ProveCheckpoint checks the signature of c with pub, then replays the
// log up to c.Position and checks the hash chain, the number of events and
// the head hash. A nil error proves that the log has not been rewritten up
// to the checkpoint; the result describes what was read.
func ProveCheckpoint(ctx context.Context, store events.Store, c Checkpoint, pub ed25519.PublicKey) (VerifyResult, error) {
	if err := c.CheckSignature(pub); err != nil {
		return VerifyResult{}, err
	}
	if c.Position.IsStart() {
		return VerifyResult{HeadHash: c.HeadHash}, nil
	}
	res, err := VerifyLog(ctx, store, VerifyOptions{Until: c.Position})
	if err != nil {
		return res, err
	}
	switch {
	case res.Break != nil:
		return res, fmt.Errorf("%w: %v", ErrProofFailed, res.Break)
	case res.Events != c.Events || res.Position != c.Position:
		return res, fmt.Errorf("%w: %d events up to position %d, the checkpoint has %d up to %d", ErrProofFailed, res.Events, res.Position.Commit, c.Events, c.Position.Commit)
	case res.HeadHash != c.HeadHash:
		return res, fmt.Errorf("%w: head hash %s, the checkpoint has %s", ErrProofFailed, res.HeadHash, c.HeadHash)
	}
	return res, nil
}
