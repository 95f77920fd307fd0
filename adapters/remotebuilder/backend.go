package remotebuilder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/serve"
	"buildledger/commands"
	"buildledger/domain/adhoc"
	"buildledger/domain/domainerr"
)

// maxAddedNAR caps one path a client copies in; the NAR is held in memory
// to check its content address.
const maxAddedNAR = 256 << 20

// backend answers one client's serve session from the server's store.
type backend struct {
	s                          *Service
	user, fingerprint, version string
	// copied counts the NAR bytes the session received, for
	// Config.MaxSessionBytes.
	copied int64
}

var _ serve.Backend = (*backend)(nil)

func (b *backend) QueryValidPaths(ctx context.Context, paths []string, _, _ bool) ([]string, error) {
	valid, err := b.s.cfg.Store.ValidPaths(ctx, paths)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		if valid[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (b *backend) QueryPathInfos(ctx context.Context, paths []string) ([]serve.PathInfo, error) {
	valid, err := b.QueryValidPaths(ctx, paths, false, false)
	if err != nil || len(valid) == 0 {
		return nil, err
	}
	infos, err := b.s.cfg.Local.PathInfos(ctx, valid...)
	if err != nil {
		return nil, err
	}
	out := make([]serve.PathInfo, len(infos))
	for i, in := range infos {
		out[i] = serve.PathInfo{Path: in.StorePath, Deriver: in.Deriver, References: in.References,
			NarSize: uint64(in.NarSize), NarHash: in.NarHash}
	}
	return out, nil
}

func (b *backend) QueryClosure(ctx context.Context, paths []string, _ bool) ([]string, error) {
	return b.s.cfg.Store.ClosureOf(ctx, paths)
}

func (b *backend) DumpPath(ctx context.Context, w io.Writer, p string) error {
	return b.s.cfg.Store.DumpPath(ctx, w, p)
}

// AddPath takes a path the client copies in: one the store holds is
// skipped, a content-addressed one is checked and imported, and any
// other refused (see the package documentation). A path without a
// content address (ImportPaths and export streams carry none) is checked
// against the addresses its contents can have.
func (b *backend) AddPath(ctx context.Context, info serve.PathInfo, nar io.Reader) error {
	var buf bytes.Buffer
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(nar, maxAddedNAR+1))
	if err != nil {
		return fmt.Errorf("receive %s: %w", info.Path, err)
	}
	if n > maxAddedNAR {
		return fmt.Errorf("%s: NAR over %d bytes, the most a client may copy in", info.Path, maxAddedNAR)
	}
	b.copied += n
	if err := adhoc.CheckSessionBytes(b.copied, b.s.cfg.MaxSessionBytes); err != nil {
		return fmt.Errorf("%s: %w", info.Path, err)
	}
	valid, err := b.s.cfg.Store.ValidPaths(ctx, []string{info.Path})
	if err != nil {
		return err
	}
	if valid[info.Path] {
		return nil
	}
	ca, err := serve.CheckContentAddress(info, buf.Bytes(), h.Sum(nil))
	if err != nil {
		if errors.Is(err, serve.ErrNotContentAddressed) {
			return fmt.Errorf("%w: buildledger takes from clients only paths whose name it can check against their contents "+
				"(sources, derivations, fixed outputs); build the derivation of this one here instead", err)
		}
		return fmt.Errorf("refused: %w", err)
	}
	info.NarSize, info.Sigs = uint64(n), nil
	pr, pw := io.Pipe()
	go func() {
		ew := serve.NewExportWriter(pw)
		err := ew.Add(info, bytes.NewReader(buf.Bytes()))
		if err == nil {
			err = ew.Close()
		}
		_ = pw.CloseWithError(err)
	}()
	if _, err := b.s.cfg.Store.Import(ctx, pr); err != nil {
		_ = pr.CloseWithError(err)
		return fmt.Errorf("import %s: %w", info.Path, err)
	}
	b.s.log.Info("remote builder: path copied in", "user", b.user, "path", info.Path, "ca", ca)
	return nil
}

// BuildDerivation builds the .drv in the server's store that drvPath
// names, once the derivation the client sent is checked against it.
func (b *backend) BuildDerivation(ctx context.Context, drvPath string, sent serve.BasicDerivation, _ serve.BuildOptions, log io.Writer) (serve.BuildResult, error) {
	msg, err := b.checkSent(ctx, drvPath, sent)
	if err != nil {
		return serve.BuildResult{}, err
	}
	if msg != "" {
		return serve.BuildResult{Status: serve.MiscFailure, ErrorMsg: msg}, nil
	}
	return b.build(ctx, []string{drvPath}, log)
}

// BuildPaths builds the derivations among paths (the others must be
// valid) in one ad-hoc build each.
func (b *backend) BuildPaths(ctx context.Context, paths []string, _ serve.BuildOptions, log io.Writer) (serve.BuildResult, error) {
	var drvs []string
	for _, p := range paths {
		p = trimDrvOutputs(p)
		if strings.HasSuffix(p, ".drv") {
			drvs = append(drvs, p)
		}
	}
	return b.build(ctx, drvs, log)
}

// checkSent compares the derivation a client sent with the .drv file in
// the store, first restoring that file from what was sent when the store
// does not hold it (rebuild); a non-empty answer is why it is refused.
func (b *backend) checkSent(ctx context.Context, drvPath string, sent serve.BasicDerivation) (string, error) {
	valid, err := b.s.cfg.Store.ValidPaths(ctx, []string{drvPath})
	if err != nil {
		return "", err
	}
	if !valid[drvPath] {
		if msg, err := b.rebuild(ctx, drvPath, sent); msg != "" || err != nil {
			return msg, err
		}
	}
	d, err := drv.NewReader("").Read(drvPath)
	if err != nil {
		return "", err
	}
	outs := make(map[string]string, len(sent.Outputs))
	for name, o := range sent.Outputs {
		outs[name] = o.Path
	}
	if !maps.Equal(outs, d.Outputs) || sent.Platform != d.System || sent.Builder != d.Builder ||
		!slices.Equal(sent.Args, d.Args) || !maps.Equal(sent.Env, d.Env) {
		return fmt.Sprintf("the derivation sent does not match %s in buildledger's store", drvPath), nil
	}
	return "", nil
}

// build submits one ad-hoc build per derivation and waits for them all,
// streaming their logs; the first failure is the result.
func (b *backend) build(ctx context.Context, drvs []string, log io.Writer) (serve.BuildResult, error) {
	start := time.Now()
	res := serve.BuildResult{Status: serve.Built, TimesBuilt: 1, StartTime: start}
	for _, p := range drvs {
		md := commands.NewMetadata(commands.UserActor(b.user), b.s.cfg.Runtime)
		sub, err := b.s.Submit(ctx, Submission{Metadata: md, User: b.user, Via: adhoc.ViaSSH, KeyFingerprint: b.fingerprint,
			ClientVersion: b.version, DrvPath: p})
		if err != nil {
			if errors.Is(err, domainerr.ErrForbidden) || errors.Is(err, domainerr.ErrInvalid) || errors.Is(err, domainerr.ErrBusy) || errors.Is(err, errNotHere) {
				return serve.BuildResult{Status: serve.MiscFailure, ErrorMsg: err.Error()}, nil
			}
			return res, err
		}
		id := sub.BuildID
		fmt.Fprintf(log, "buildledger: building %s as build %d in %s:%s %s/build/%d\n", p, id, adhoc.Project, adhoc.Jobset(b.user), b.s.cfg.BaseURL, id)
		out, err := b.s.Wait(ctx, b.user, id, sub.Steps, log)
		if err != nil {
			return res, err
		}
		if out.Status != 0 {
			return serve.BuildResult{Status: serve.PermanentFailure, StartTime: start, StopTime: time.Now(),
				ErrorMsg: fmt.Sprintf("build %d of %s %s on buildledger: %s/build/%d", id, p, statusText(out.Status), b.s.cfg.BaseURL, id)}, nil
		}
	}
	res.StopTime = time.Now()
	return res, nil
}
