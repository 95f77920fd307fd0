package builder

import (
	"context"
	"errors"
	"io"
	"sync"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/nix/serve"
	"buildledger/commands"
	"buildledger/events"
)

// upload puts the outputs' closure (infos, references first) into the
// destination cache, skipping paths it holds, and returns OutputUploaded
// for every output.
func (w *Worker) upload(ctx context.Context, c commands.BuildStep, outputs []events.Output, infos []serve.PathInfo) ([]events.OutputUploaded, error) {
	names := make(map[string]string, len(outputs))
	for _, o := range outputs {
		names[o.Path] = o.Name
	}
	dest := w.cfg.Cache
	var out []events.OutputUploaded
	for _, p := range infos {
		name, isOutput := names[p.Path]
		if !isOutput {
			has, err := dest.Has(ctx, p.Path)
			if err != nil {
				return nil, err
			}
			if has {
				continue
			}
		}
		nar := &lazyNAR{ctx: ctx, path: p.Path, dump: w.local.DumpNAR}
		u, err := dest.Put(ctx, cacheInfo(p), nar)
		nar.close()
		if err != nil {
			return nil, err
		}
		if nar.started {
			w.metrics.uploadBytes.Add(float64(u.FileSize))
			w.metrics.uploads.Inc()
		}
		if isOutput {
			out = append(out, u.OutputUploaded(c.DrvPath, c.BuildID, name))
		}
	}
	return out, nil
}

// startDerivationUpload starts putting c's derivation and its closure
// (input derivations and sources) into the destination cache, skipping
// paths it holds, as a cache served from Hydra's store holds them: "nix
// log --store CACHE DRV" reads the derivation from the cache before it
// asks for the log, and a client can build what it lacks. It runs beside
// the build, so that it costs a step no time and the derivation is there
// while the log is still growing, and for a failed build too. The
// returned function waits for it and returns its error; nil without a
// cache.
func (w *Worker) startDerivationUpload(ctx context.Context, c commands.BuildStep) func() error {
	if w.cfg.Cache == nil {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		infos, err := w.localClosure(ctx, []string{c.DrvPath})
		if err == nil {
			_, err = w.upload(ctx, c, nil, infos)
		}
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done })
}

// uploadLog sends the finished log at location to dest.
func (w *Worker) uploadLog(ctx context.Context, dest binarycache.LogUploader, drvPath, location string) error {
	r, err := w.cfg.Logs.Open(location)
	if err != nil {
		return err
	}
	defer r.Close()
	return dest.PutLog(ctx, drvPath, r)
}

// errAbandoned stops a NAR dump nobody reads any more.
var errAbandoned = errors.New("nar no longer read")

// lazyNAR serialises a store path only when read: a destination that
// already holds the path never reads it.
type lazyNAR struct {
	ctx     context.Context
	path    string
	dump    func(ctx context.Context, w io.Writer, path string) error
	pr      *io.PipeReader
	started bool
}

// Read implements io.Reader.
func (l *lazyNAR) Read(p []byte) (int, error) {
	if !l.started {
		l.started = true
		pr, pw := io.Pipe()
		l.pr = pr
		go func() { _ = pw.CloseWithError(l.dump(l.ctx, pw, l.path)) }()
	}
	return l.pr.Read(p)
}

// close stops the dump if it is still running.
func (l *lazyNAR) close() {
	if l.pr != nil {
		_ = l.pr.CloseWithError(errAbandoned)
	}
}
