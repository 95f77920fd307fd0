package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"buildledger/adapters/translog"
	"buildledger/events"
)

// tlogOptions are up's transparency-log flags (docs/auditing.md).
type tlogOptions struct {
	keyFile   string
	origin    string
	interval  time.Duration
	witnesses []string
}

func (o *tlogOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.keyFile, "tlog-key", "", "ed25519 private key (PEM, from audit keygen) that signs the transparency log's checkpoints; set, up serves /tlog/ and publishes checkpoints")
	fs.StringVar(&o.origin, "tlog-origin", "", "the log's origin, the first line of its checkpoints and its key's name (default: the --base-url host and /log)")
	fs.DurationVar(&o.interval, "tlog-interval", time.Minute, "how often up brings the tree up to date and publishes a checkpoint")
	fs.Func("tlog-witness", "a witness's cosignature key (name+hash+key, as audit witness prints it) whose cosignatures the log accepts (repeatable)", func(v string) error {
		if _, err := translog.NewCosignatureVerifier(v); err != nil {
			return err
		}
		o.witnesses = append(o.witnesses, v)
		return nil
	})
}

// logSigner reads the log's key and names it origin.
func logSigner(keyFile, origin string) (note.Signer, string, error) {
	if !translog.ValidName(origin) {
		return nil, "", fmt.Errorf("origin %q: want a name without spaces or +, such as ci.example.org/log", origin)
	}
	key, err := readPrivateKey(keyFile)
	if err != nil {
		return nil, "", err
	}
	s, err := translog.NewSigner(origin, key)
	if err != nil {
		return nil, "", fmt.Errorf("log key: %w", err)
	}
	vkey, err := translog.VerifierKey(origin, key.Public().(ed25519.PublicKey))
	return s, vkey, err
}

// open returns the web's transparency log and its checkpoint signer, or
// nil when no key is configured.
func (o *tlogOptions) open(sys *system, baseURL string) (*translog.Server, note.Signer, error) {
	if o.keyFile == "" {
		return nil, nil, nil
	}
	if o.origin == "" {
		host := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(baseURL), "https://"), "http://")
		host, _, _ = strings.Cut(host, "/")
		if host == "" {
			return nil, nil, errors.New("--tlog-key: give --tlog-origin or --base-url")
		}
		o.origin = host + "/log"
	}
	s, vkey, err := logSigner(o.keyFile, o.origin)
	if err != nil {
		return nil, nil, err
	}
	srv := &translog.Server{Tree: translog.NewTree(sys.pool), Store: sys.store, VKey: vkey}
	for _, w := range o.witnesses {
		v, _ := translog.NewCosignatureVerifier(w)
		srv.Witnesses = append(srv.Witnesses, v)
	}
	return srv, s, nil
}

// publishCheckpoints brings the tree up to the log's head and publishes a
// checkpoint every interval; an error is logged and tried again next time.
func publishCheckpoints(ctx context.Context, tree *translog.Tree, s note.Signer, every time.Duration, log *slog.Logger) error {
	t := time.NewTicker(max(every, time.Second))
	defer t.Stop()
	for {
		if _, err := tree.Publish(ctx, s); err != nil && ctx.Err() == nil {
			log.Warn("transparency log: publish a checkpoint", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readLogKey reads a log's note verifier key, given as the key or a file
// holding it.
func readLogKey(v string) (note.Verifier, error) {
	if v == "" {
		return nil, errors.New("--log-key is required: the log's note verifier key (GET /tlog/key, checked out of band) or a file holding it")
	}
	if b, err := os.ReadFile(v); err == nil {
		v = strings.TrimSpace(string(b))
	}
	k, err := note.NewVerifier(v)
	if err != nil {
		return nil, fmt.Errorf("--log-key: %w", err)
	}
	return k, nil
}

// runAuditNoteCheckpoint is audit checkpoint --origin: it verifies the
// chain, brings the tree up to date and publishes a signed C2SP
// checkpoint, which it also writes out.
func runAuditNoteCheckpoint(ctx context.Context, a *app, sys *system, keyFile, origin, out string, verified uint64) error {
	s, _, err := logSigner(keyFile, origin)
	if err != nil {
		return err
	}
	tree := translog.NewTree(sys.pool)
	msg, err := tree.Publish(ctx, s)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = a.stdout.Write(msg)
		return err
	}
	if err := os.WriteFile(out, msg, 0o644); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	fmt.Fprintf(a.stdout, "checkpoint of the %d verified events written to %s\n", verified, out)
	return nil
}

// runAuditProveTiles proves inclusion or consistency from a log's tiles,
// without the database.
func runAuditProveTiles(ctx context.Context, a *app, tiles, logKey, inclusion, cpFile string, consistency []string) error {
	k, err := readLogKey(logKey)
	if err != nil {
		return err
	}
	c := translog.NewClient(tiles, k, &http.Client{Timeout: time.Minute})
	if inclusion != "" {
		return proveInclusion(ctx, a, c, k, inclusion, cpFile)
	}
	if len(consistency) != 2 {
		return errors.New("--consistency takes two checkpoint files: OLD NEW")
	}
	var cps [2]translog.Checkpoint
	for i, f := range consistency {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		if _, cps[i], err = translog.OpenCheckpoint(b, k); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	if err := c.ProveConsistency(ctx, cps[0], cps[1]); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "proved: the log of %d events extends the log of %d events\n", cps[1].Tree.N, cps[0].Tree.N)
	return nil
}

// proveInclusion proves that the event ref (a position or an id) is in
// the tree of the checkpoint in cpFile, or of the log's current one.
func proveInclusion(ctx context.Context, a *app, c *translog.Client, k note.Verifier, ref, cpFile string) error {
	var (
		cp  translog.Checkpoint
		err error
	)
	if cpFile != "" {
		b, rerr := os.ReadFile(cpFile)
		if rerr != nil {
			return fmt.Errorf("read checkpoint: %w", rerr)
		}
		_, cp, err = translog.OpenCheckpoint(b, k)
	} else {
		_, _, cp, err = c.Checkpoint(ctx)
	}
	if err != nil {
		return err
	}
	row, err := c.Event(ctx, ref)
	if err != nil {
		return err
	}
	sum, err := hexHash(row.Hash)
	if err != nil {
		return fmt.Errorf("event %s: %w", ref, err)
	}
	if err := c.ProveInclusion(ctx, cp, row.Position-1, tlog.RecordHash(sum)); err != nil {
		return err
	}
	content := "its content matches its hash"
	if events.RecordedHash(row.Recorded()) != row.Hash {
		content = "its data is shown redacted, so its content cannot be checked against its hash here"
	}
	fmt.Fprintf(a.stdout, "proved: event %s at position %d is in the log of %d events; %s\n", row.ID, row.Position, cp.Tree.N, content)
	return nil
}

func hexHash(h string) ([]byte, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != tlog.HashSize {
		return nil, fmt.Errorf("hash %q is not 32 hex bytes", h)
	}
	return b, nil
}

// runAuditWitness cosigns a log's checkpoint once, after proving it
// consistent with the last one this witness cosigned.
func runAuditWitness(ctx context.Context, a *app, args []string) error {
	var (
		logURL, logKey, keyFile, name, state string
		tofu                                 bool
	)
	fs := a.newFlagSet("audit witness", "audit witness --log URL --log-key VKEY|--trust-on-first-use --key FILE --name NAME --state DIR")
	fs.StringVar(&logURL, "log", "", "the log's /tlog URL")
	fs.StringVar(&logKey, "log-key", "", "the log's note verifier key, or a file holding it")
	fs.BoolVar(&tofu, "trust-on-first-use", false, "instead of --log-key: take the key the log serves at /tlog/key on the first run and keep it in --state, trusting only it from then on (check it out of band)")
	fs.StringVar(&keyFile, "key", "", "the witness's ed25519 private key (PEM, from audit keygen)")
	fs.StringVar(&name, "name", "", "the witness's name, such as witness.example.org")
	fs.StringVar(&state, "state", "", "directory that keeps the last checkpoint cosigned")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if logURL == "" || keyFile == "" || name == "" || state == "" {
		return errors.New("--log, --key, --name and --state are required")
	}
	if !translog.ValidName(name) {
		return fmt.Errorf("--name %q: want a name without spaces or +, such as witness.example.org", name)
	}
	key, err := readPrivateKey(keyFile)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Minute}
	var k note.Verifier
	switch {
	case tofu && logKey != "":
		return errors.New("give --log-key or --trust-on-first-use, not both")
	case tofu:
		var (
			vkey  string
			first bool
		)
		if k, vkey, first, err = translog.TrustOnFirstUse(ctx, translog.NewClient(logURL, nil, hc), state); err != nil {
			return err
		}
		if first {
			fmt.Fprintf(a.stdout, "trusting the log key %s on first use (kept in %s); check it out of band\n", vkey, state)
		}
	default:
		if k, err = readLogKey(logKey); err != nil {
			return err
		}
	}
	w := &translog.Witness{Log: translog.NewClient(logURL, k, hc), Cosigner: translog.NewCosigner(name, key), State: state}
	cp, err := w.Cosign(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "cosigned the log of %d events (root %s)\nwitness key %s\n", cp.Tree.N, cp.Tree.Hash, translog.CosignatureVerifierKey(name, key.Public().(ed25519.PublicKey)))
	return nil
}
