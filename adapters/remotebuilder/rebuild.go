package remotebuilder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/storepath"

	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/serve"
)

// maxAssignments caps the ways of reading a sent derivation's inputs
// that rebuild tries (each costs one SHA-256 of the .drv contents).
const maxAssignments = 64

// rebuild restores the .drv file drvPath names from the derivation Nix's
// build hook sends, and adds it to the server's store, so a client need
// not copy its .drv files first. The hook (build-remote in Nix 2.8)
// sends no .drv: it copies the input closure, then sends the derivation
// with its input derivations dropped and, when it had any, its input
// sources replaced by that whole closure. The original inputs are the
// closure paths that appear in the builder, arguments or environment (as
// string context puts them there): each is an output of a derivation the
// server holds, or a source. rebuild tries those readings and keeps one
// only if its contents make drvPath (a SHA-256 a client cannot forge)
// and its outputs are the paths Nix gives such a derivation. A non-empty
// answer is why it is refused; nothing is added then.
func (b *backend) rebuild(ctx context.Context, drvPath string, sent serve.BasicDerivation) (string, error) {
	refuse := func(why string, args ...any) (string, error) {
		return fmt.Sprintf("buildledger builds only derivations it can check, and "+why+
			"; copy the derivation first (nix-copy-closure --to USER@HOST %s)", append(args, drvPath)...), nil
	}
	if sp, err := storepath.FromAbsolutePath(drvPath); err != nil || !strings.HasSuffix(sp.Name, ".drv") {
		return fmt.Sprintf("%q is not a derivation's store path", drvPath), nil
	}
	for _, p := range sent.InputSrcs {
		if err := storepath.Validate(p); err != nil {
			return fmt.Sprintf("input %q is not a store path", p), nil
		}
	}
	d := &drv.Derivation{Path: drvPath, Outputs: map[string]string{}, System: sent.Platform, Builder: sent.Builder,
		Args: sent.Args, Env: sent.Env}
	for name, o := range sent.Outputs {
		d.Outputs[name] = o.Path
		if o.HashAlgo != "" {
			if d.FixedOutputs == nil {
				d.FixedOutputs = map[string]drv.FixedOutput{}
			}
			d.FixedOutputs[name] = drv.FixedOutput{HashAlgo: o.HashAlgo, Hash: o.Hash}
		}
	}
	readings, unknown, err := b.readings(ctx, d, sent.InputSrcs)
	if err != nil {
		return "", err
	}
	var aterm []byte
	var renderErr error
	for _, r := range readings {
		d.InputSrcs, d.InputDrvs = r.srcs, r.drvs
		a, p, err := d.ATerm()
		if err != nil {
			renderErr = err
			break
		}
		if p == drvPath {
			aterm = a
			break
		}
	}
	switch {
	case renderErr != nil:
		return refuse("it cannot render the derivation sent for %s (%v)", drvPath, renderErr)
	case aterm == nil && len(unknown) > 0:
		return refuse("%s uses %s, built from derivations its store does not hold", drvPath, strings.Join(unknown, ", "))
	case aterm == nil:
		return refuse("the derivation sent does not make %s with any inputs buildledger knows", drvPath)
	}
	want, err := drv.NewReader("").ExpectedOutputs(d)
	if err != nil {
		return refuse("it cannot compute the outputs of %s (%v)", drvPath, err)
	}
	if !maps.Equal(want, d.Outputs) {
		return fmt.Sprintf("refused: the outputs of %s are not the paths Nix gives that derivation", drvPath), nil
	}
	refs := slices.Concat(d.InputSrcs, slices.Collect(maps.Keys(d.InputDrvs)))
	slices.Sort(refs)
	if msg, err := b.addText(ctx, drvPath, aterm, refs); msg != "" || err != nil {
		return msg, err
	}
	b.s.log.Info("remote builder: derivation rebuilt from what the client sent", "user", b.user, "drv", drvPath)
	return "", nil
}

// reading is one way to read a sent derivation's inputs.
type reading struct {
	srcs []string
	drvs map[string][]string
}

// readings returns the ways to read d's inputs from the sent input
// sources, most likely first: as sent (a derivation without input
// derivations keeps its sources), then each closure path that appears in
// d read as an output of its deriver (when the server holds that .drv
// and it has the path as an output) or as a source. unknown lists the
// paths whose deriver the server's store does not hold.
func (b *backend) readings(ctx context.Context, d *drv.Derivation, sent []string) ([]reading, []string, error) {
	out := []reading{{srcs: sent, drvs: map[string][]string{}}}
	type choice struct{ drv, output string } // drv "" reads the path as a source
	var paths []string
	var choices [][]choice
	var unknown []string
	for _, p := range mentioned(d, sent) {
		opts := []choice{{}}
		deriver, output, known, err := b.deriverOf(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case output != "":
			opts = []choice{{deriver, output}, {}}
		case deriver != "" && !known:
			unknown = append(unknown, fmt.Sprintf("%s (from %s)", p, deriver))
		}
		paths, choices = append(paths, p), append(choices, opts)
	}
	// Counting in mixed radix, the first reading takes every path's
	// first choice: its deriver where the server holds one.
	idx := make([]int, len(paths))
	for n := 0; n < maxAssignments; n++ {
		r := reading{srcs: []string{}, drvs: map[string][]string{}}
		for i, p := range paths {
			c := choices[i][idx[i]]
			if c.drv == "" {
				r.srcs = append(r.srcs, p)
			} else {
				r.drvs[c.drv] = append(r.drvs[c.drv], c.output)
			}
		}
		out = append(out, r)
		i := 0
		for ; i < len(idx); i++ {
			if idx[i]++; idx[i] < len(choices[i]) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			break
		}
	}
	return out, unknown, nil
}

// mentioned returns the paths among candidates that appear in d's
// builder, arguments or environment, sorted.
func mentioned(d *drv.Derivation, candidates []string) []string {
	texts := append([]string{d.Builder}, d.Args...)
	for k, v := range d.Env {
		texts = append(texts, k, v)
	}
	var out []string
	for _, p := range candidates {
		for _, s := range texts {
			if strings.Contains(s, p) {
				out = append(out, p)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// deriverOf returns the deriver the server's store records for p, whether
// that .drv is in the store, and the name of its output that is p ("" if
// none is, or the deriver is unknown). The recorded deriver is only a
// lead: the .drv itself, whose outputs Nix checked when it was added,
// decides.
func (b *backend) deriverOf(ctx context.Context, p string) (deriver, output string, known bool, err error) {
	valid, err := b.s.cfg.Store.ValidPaths(ctx, []string{p})
	if err != nil || !valid[p] {
		return "", "", false, err
	}
	deriver, err = b.s.cfg.Store.QueryDeriver(ctx, p)
	if err != nil || deriver == "" {
		return "", "", false, err
	}
	valid, err = b.s.cfg.Store.ValidPaths(ctx, []string{deriver})
	if err != nil || !valid[deriver] {
		return deriver, "", false, err
	}
	d, err := drv.NewReader("").Read(deriver)
	if err != nil {
		return "", "", false, err
	}
	for name, o := range d.Outputs {
		if o == p {
			return deriver, name, true, nil
		}
	}
	return deriver, "", true, nil
}

// addText adds a text file (a .drv) to the server's store under p with
// references refs, through AddPath, which checks its content address
// again.
func (b *backend) addText(ctx context.Context, p string, contents []byte, refs []string) (string, error) {
	valid, err := b.s.cfg.Store.ValidPaths(ctx, refs)
	if err != nil {
		return "", err
	}
	for _, r := range refs {
		if !valid[r] {
			return fmt.Sprintf("%s needs %s, which is not in buildledger's store: copy it first (nix-copy-closure --to USER@HOST %s)", p, r, p), nil
		}
	}
	var buf bytes.Buffer
	w, err := nar.NewWriter(&buf)
	if err != nil {
		return "", err
	}
	if err := w.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(contents))}); err != nil {
		return "", fmt.Errorf("NAR of %s: %w", p, err)
	}
	if _, err := w.Write(contents); err != nil {
		return "", fmt.Errorf("NAR of %s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("NAR of %s: %w", p, err)
	}
	sum := sha256.Sum256(contents)
	info := serve.PathInfo{Path: p, References: refs, NarSize: uint64(buf.Len()), CA: "text:sha256:" + nixbase32.EncodeToString(sum[:])}
	if err := b.AddPath(ctx, info, io.Reader(&buf)); err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	return "", nil
}
