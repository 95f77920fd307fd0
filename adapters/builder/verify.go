package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"buildledger/adapters/nix/serve"
	"buildledger/commands"
	"buildledger/domain/machine"
	"buildledger/domain/status"
	"buildledger/events"
)

// VerifyResult is what a reproducibility rebuild recorded: an
// OutputVerified per output rebuilt, then VerificationEnded.
type VerifyResult struct {
	Outputs []events.OutputVerified
	Ended   events.VerificationEnded
}

// Verify carries out the reproducibility rebuild c (c.Verify set) and
// records its outcome on the derivation's verify stream. The rebuild goes
// into a scratch store on a localhost machine, created for it and removed
// after, so it never reuses the outputs the local store holds; on an
// ssh:// machine into the machine's own store, and only when that store
// does not hold the outputs already (a rebuild there would not be
// independent: Nix's serve protocol has no check mode). A refused record
// (a duplicate delivery, or an attempt the scheduler gave up) is an error
// wrapping domainerr.ErrConflict.
func (w *Worker) Verify(ctx context.Context, c commands.BuildStep) (VerifyResult, error) {
	if c.Verify == nil {
		return VerifyResult{}, errors.New("verify: the command is not a verification")
	}
	res := w.rebuild(ctx, c)
	if _, err := w.steps.EndVerification(ctx, w.metadata(c), res.Outputs, res.Ended); err != nil {
		return res, fmt.Errorf("record verification of %s: %w", c.DrvPath, err)
	}
	return res, nil
}

// rebuild builds c's derivation apart and compares the outputs' NAR
// hashes with the original ones. It never fails: a problem becomes the
// end's status and message.
func (w *Worker) rebuild(ctx context.Context, c commands.BuildStep) (res VerifyResult) {
	now := func() int64 { return w.cfg.Runtime.Clock().Now().Unix() }
	res.Ended = events.VerificationEnded{DrvPath: c.DrvPath, Machine: c.Machine, Attempt: c.Attempt}
	fail := func(code status.Code, format string, args ...any) VerifyResult {
		res.Outputs = nil
		res.Ended.Status, res.Ended.ErrorMsg, res.Ended.Timestamp = int(code), fmt.Sprintf(format, args...), now()
		return res
	}
	d, err := w.reader.Read(c.DrvPath)
	if err != nil {
		return fail(status.Aborted, "derivation %s is not in the local store: %v", c.DrvPath, err)
	}
	inputs, err := w.reader.InputPaths(d)
	if err != nil {
		return fail(status.Aborted, "inputs of %s: %v", c.DrvPath, err)
	}
	cfg := c.MachineConfig
	scratch := ""
	if cfg.URI == machine.Localhost {
		dir, err := os.MkdirTemp(w.cfg.SpoolDir, "verify-")
		if err != nil {
			return fail(status.Aborted, "scratch store: %v", err)
		}
		defer removeStore(dir, w.log.Warn)
		scratch = filepath.Join(dir, "store")
		cfg.Store = scratch
	}
	tail := newTailBuffer(4 << 10)
	l, err := w.open(ctx, c.Machine, cfg, tail)
	if err != nil {
		return fail(status.Aborted, "%v", err)
	}
	client, err := serve.NewClient(ctx, l)
	if err != nil {
		return fail(status.Aborted, "%s", connectError(c.Machine, err, l.abort(), tail.String()))
	}
	client.SpoolDir = w.cfg.SpoolDir
	defer func() {
		if err := l.finish(); err != nil {
			w.log.Warn("verification session ended with an error", "machine", c.Machine, "err", err)
		}
	}()
	paths := make([]string, len(c.Verify.Outputs))
	for i, o := range c.Verify.Outputs {
		paths[i] = o.Path
	}
	if scratch == "" {
		valid, err := client.QueryValidPaths(ctx, paths, false, false)
		if err != nil {
			return fail(status.Aborted, "query %s: %v", c.Machine, err)
		}
		if len(valid) > 0 {
			return fail(status.Aborted, "machine %s already holds %s: a rebuild there would not be independent", c.Machine, valid[0])
		}
	}
	if err := w.copyInputs(ctx, client, inputs); err != nil {
		return fail(status.Aborted, "copy inputs to %s: %v", c.Machine, err)
	}
	lim := w.limits(c)
	opts := serve.BuildOptions{MaxSilentTime: lim.maxSilent, BuildTimeout: lim.timeout, MaxLogSize: uint64(lim.maxLog)}
	br, err := client.BuildDerivation(ctx, c.DrvPath, serve.NewBasicDerivation(d, inputs), opts)
	if err != nil {
		return fail(status.Aborted, "build on %s: %v: %s", c.Machine, err, lastLine(tail.String()))
	}
	if !br.Success() {
		return fail(status.Code(br.StepOutcome().Status), "%s", br.ErrorMsg)
	}
	infos, err := client.QueryPathInfos(ctx, paths)
	if err != nil {
		return fail(status.Aborted, "path infos on %s: %v", c.Machine, err)
	}
	hashes := map[string]string{}
	for _, in := range infos {
		hashes[in.Path] = in.NarHash
	}
	at := now()
	for _, o := range c.Verify.Outputs {
		ov := events.OutputVerified{DrvPath: c.DrvPath, Output: o.Name, Path: o.Path, Machine: c.Machine,
			OriginalMachine: c.Verify.OriginalMachine, NarHash: hashes[o.Path], OriginalNarHash: o.NarHash, Timestamp: at}
		ov.Matches = ov.NarHash != "" && ov.NarHash == ov.OriginalNarHash
		if !ov.Matches && scratch != "" {
			ov.FirstDifference = w.firstDifference(filepath.Join(w.root, o.Path), filepath.Join(scratch, o.Path))
		}
		res.Outputs = append(res.Outputs, ov)
	}
	res.Ended.Status, res.Ended.Timestamp = int(status.Success), at
	return res
}

// firstDifference names the first file (in NAR order, relative to the
// output, "." for the output itself) that differs between the original
// tree a and the rebuilt tree b, or "" when a tree is not at hand or no
// difference shows.
func (w *Worker) firstDifference(a, b string) string {
	rel, err := diffTrees(a, b, ".")
	if err != nil {
		w.log.Info("trees of a verification not compared", "original", a, "rebuilt", b, "err", err)
		return ""
	}
	return rel
}

// diffTrees compares a and b as NAR serialises them: entry types, the
// executable bit, symlink targets, file contents, and directory entries
// by name in sorted order.
func diffTrees(a, b, rel string) (string, error) {
	ia, err := os.Lstat(a)
	if err != nil {
		return "", err
	}
	ib, err := os.Lstat(b)
	if err != nil {
		return "", err
	}
	if ia.Mode().Type() != ib.Mode().Type() {
		return rel, nil
	}
	switch {
	case ia.Mode()&fs.ModeSymlink != 0:
		ta, err := os.Readlink(a)
		if err != nil {
			return "", err
		}
		tb, err := os.Readlink(b)
		if err != nil {
			return "", err
		}
		if ta != tb {
			return rel, nil
		}
	case ia.IsDir():
		ea, err := os.ReadDir(a)
		if err != nil {
			return "", err
		}
		eb, err := os.ReadDir(b)
		if err != nil {
			return "", err
		}
		for i := 0; i < max(len(ea), len(eb)); i++ {
			switch {
			case i >= len(ea):
				return path.Join(rel, eb[i].Name()), nil
			case i >= len(eb) || ea[i].Name() != eb[i].Name():
				return path.Join(rel, min(ea[i].Name(), nameAt(eb, i, ea[i].Name()))), nil
			}
			d, err := diffTrees(filepath.Join(a, ea[i].Name()), filepath.Join(b, eb[i].Name()), path.Join(rel, ea[i].Name()))
			if err != nil || d != "" {
				return d, err
			}
		}
	default:
		if ia.Mode()&0o111 != ib.Mode()&0o111 || ia.Size() != ib.Size() {
			return rel, nil
		}
		same, err := sameContents(a, b)
		if err != nil {
			return "", err
		}
		if !same {
			return rel, nil
		}
	}
	return "", nil
}

// nameAt returns es[i]'s name, or def past the end.
func nameAt(es []os.DirEntry, i int, def string) string {
	if i < len(es) {
		return es[i].Name()
	}
	return def
}

// sameContents compares two files of equal size chunk by chunk.
func sameContents(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// removeStore removes a scratch store, whose store paths Nix made read
// only.
func removeStore(dir string, warn func(string, ...any)) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		warn("scratch store not removed", "dir", dir, "err", err)
	}
}
