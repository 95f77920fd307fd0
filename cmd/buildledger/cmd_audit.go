package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/events/audit"
)

const auditUsage = `usage: buildledger audit verify [--stream S]
       buildledger audit keygen --key FILE [--pubkey FILE]
       buildledger audit checkpoint --key FILE [--origin NAME] [--out FILE]
       buildledger audit prove --checkpoint FILE --pubkey FILE
       buildledger audit prove --inclusion EVENT-ID|POSITION --tiles URL --log-key VKEY [--checkpoint FILE]
       buildledger audit prove --consistency OLD NEW --tiles URL --log-key VKEY
       buildledger audit witness --log URL --log-key VKEY|--trust-on-first-use --key FILE --name NAME --state DIR`

// runAudit checks the log's hash chain and signs and proves checkpoints of
// its head (docs/auditing.md).
func runAudit(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, a, args[1:])
	case "keygen":
		return runAuditKeygen(a, args[1:])
	case "checkpoint":
		return runAuditCheckpoint(ctx, a, args[1:])
	case "prove":
		return runAuditProve(ctx, a, args[1:])
	case "witness":
		return runAuditWitness(ctx, a, args[1:])
	}
	return fmt.Errorf("unknown audit command %q\n%s", args[0], auditUsage)
}

func runAuditVerify(ctx context.Context, a *app, args []string) error {
	var (
		cfg             config
		stream          string
		asJSON          bool
		readers, pageSz int
	)
	fs := a.newFlagSet("audit verify", "audit verify [--stream S] [flags]")
	cfg.register(fs, false)
	fs.StringVar(&stream, "stream", "", "verify only this stream")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.IntVar(&readers, "readers", 0, "read the log in pages, this many at once, instead of in one stream (the Postgres log's default); above 1 only for the Postgres log, whose positions are gapless")
	fs.IntVar(&pageSz, "page-size", 5000, "events per page (with --readers or --stream)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		start := time.Now()
		if _, gapless := sys.store.(*pglog.Store); readers > 1 && !gapless {
			return fmt.Errorf("--readers %d: only the Postgres log has gapless positions", readers)
		}
		res, err := audit.VerifyLog(ctx, sys.store, audit.VerifyOptions{Stream: stream, Readers: readers, PageSize: pageSz})
		if err != nil {
			return err
		}
		if asJSON {
			if err := json.NewEncoder(a.stdout).Encode(res); err != nil {
				return err
			}
		} else if res.Break == nil {
			rate := float64(res.Events) / max(time.Since(start).Seconds(), 1e-6)
			fmt.Fprintf(a.stdout, "ok: %d events verified up to position %d (%.0f events/s)\nhead hash %s\n", res.Events, res.Position.Commit, rate, res.HeadHash)
		}
		if res.Break != nil {
			return fmt.Errorf("BROKEN after %d good events: %w", res.Events, res.Break)
		}
		return nil
	})
}

func runAuditKeygen(a *app, args []string) error {
	var keyFile, pubFile string
	fs := a.newFlagSet("audit keygen", "audit keygen --key FILE [--pubkey FILE]")
	fs.StringVar(&keyFile, "key", "", "write the private key (PEM, PKCS #8) here; it must not exist")
	fs.StringVar(&pubFile, "pubkey", "", "write the public key (PEM, PKIX) here (default FILE.pub)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if keyFile == "" {
		return errors.New("--key is required")
	}
	if pubFile == "" {
		pubFile = keyFile + ".pub"
	}
	if _, _, err := newKeyPair(keyFile, pubFile); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "private key %s\npublic key  %s\n", keyFile, pubFile)
	return nil
}

func runAuditCheckpoint(ctx context.Context, a *app, args []string) error {
	var (
		cfg          config
		keyFile, out string
		origin       string
	)
	fs := a.newFlagSet("audit checkpoint", "audit checkpoint --key FILE [--origin NAME] [--out FILE] [flags]")
	cfg.register(fs, false)
	fs.StringVar(&keyFile, "key", "", "ed25519 private key (PEM, from audit keygen)")
	fs.StringVar(&origin, "origin", "", "write a C2SP tlog-checkpoint signed note of the transparency log named NAME (the log's origin, as up's --tlog-origin) instead of the JSON checkpoint, and publish it at /tlog/checkpoint")
	fs.StringVar(&out, "out", "", "write the checkpoint here (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := readPrivateKey(keyFile)
	if err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		res, err := audit.VerifyLog(ctx, sys.store, audit.VerifyOptions{})
		if err != nil {
			return err
		}
		if res.Break != nil {
			return fmt.Errorf("refusing to sign a broken log: %w", res.Break)
		}
		if origin != "" {
			return runAuditNoteCheckpoint(ctx, a, sys, keyFile, origin, out, res.Events)
		}
		cp := audit.NewCheckpoint(res, time.Now(), key)
		b, err := json.MarshalIndent(cp, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if out == "" {
			_, err = a.stdout.Write(b)
			return err
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		fmt.Fprintf(a.stdout, "checkpoint of %d events up to position %d written to %s\n", cp.Events, cp.Position.Commit, out)
		return nil
	})
}

func runAuditProve(ctx context.Context, a *app, args []string) error {
	var (
		cfg             config
		cpFile, pubFile string
		inclusion       string
		consistency     bool
		tiles, logKey   string
	)
	fs := a.newFlagSet("audit prove", "audit prove --checkpoint FILE --pubkey FILE [flags] | --inclusion EVENT-ID|POSITION --tiles URL --log-key VKEY [--checkpoint FILE] | --consistency OLD NEW --tiles URL --log-key VKEY")
	cfg.register(fs, false)
	fs.StringVar(&cpFile, "checkpoint", "", "checkpoint file (from audit checkpoint; with --inclusion a signed note, default the log's current one)")
	fs.StringVar(&pubFile, "pubkey", "", "the auditor's ed25519 public key (PEM)")
	fs.StringVar(&inclusion, "inclusion", "", "prove that this event (an id or a position) is in the transparency log, from its tiles alone")
	fs.BoolVar(&consistency, "consistency", false, "prove that the checkpoint note NEW extends OLD (two files after the flags), from the log's tiles alone")
	fs.StringVar(&tiles, "tiles", "", "the transparency log's URL (…/tlog) or a mirror of it, for --inclusion and --consistency")
	fs.StringVar(&logKey, "log-key", "", "the log's note verifier key (GET /tlog/key, checked out of band) or a file holding it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if inclusion != "" || consistency {
		if tiles == "" {
			return errors.New("--inclusion and --consistency need --tiles URL")
		}
		if consistency {
			return runAuditProveTiles(ctx, a, tiles, logKey, "", "", fs.Args())
		}
		return runAuditProveTiles(ctx, a, tiles, logKey, inclusion, cpFile, nil)
	}
	raw, err := os.ReadFile(cpFile)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	var cp audit.Checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return fmt.Errorf("read checkpoint %s: %w", cpFile, err)
	}
	pub, err := readPublicKey(pubFile)
	if err != nil {
		return err
	}
	if err := cp.CheckSignature(pub); err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		if _, err := audit.ProveCheckpoint(ctx, sys.store, cp, pub); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "proved: the log still holds the same %d events up to position %d as signed at %s\n", cp.Events, cp.Position.Commit, cp.Time.Format(time.RFC3339))
		return nil
	})
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func readPEM(path, what string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no %s file given", what)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("read %s %s: not PEM", what, path)
	}
	return block.Bytes, nil
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "private key")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("read private key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read private key %s: %T is not an ed25519 key", path, k)
	}
	return key, nil
}

func readPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "public key")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("read public key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("read public key %s: %T is not an ed25519 key", path, k)
	}
	return key, nil
}
