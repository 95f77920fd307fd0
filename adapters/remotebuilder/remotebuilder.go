// Package remotebuilder lets plain Nix use buildledger as its remote
// builder (issue 25): it answers `nix-store --serve --write` over the SSH
// server of adapters/ssh with the server side of adapters/nix/serve, and
// turns each BuildDerivation or BuildPaths request into an ad-hoc build
// (commands.SubmitAdhocBuild) that the scheduler dispatches to the real
// machines. POST /api/build reaches the same Submit through web's
// AdhocBuilds port.
//
// What the server's store accepts from a client: a path it holds already
// (nothing is copied), or a content-addressed path (sources, .drv files,
// flat fixed outputs) whose name serve.VerifyContentAddress checks against
// its contents. An input-addressed path built elsewhere is refused: its
// name says nothing about its contents, and other users' builds would
// trust it. A BuildDerivation is built only from the .drv in the server's
// store, never from the derivation the client sends, which must agree
// with it: otherwise a client could build any contents under the output
// path of someone else's derivation. When the store lacks that .drv (Nix
// sends none), rebuild restores it from the derivation sent, only if its
// contents make the path the client named.
package remotebuilder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/serve"
	"buildledger/adapters/ssh"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/domain/adhoc"
	"buildledger/domain/domainerr"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// ServeCommands are the exec commands the SSH server answers: Nix runs
// the first for a remote builder, nix-copy-closure the second.
var ServeCommands = []string{"nix-store --serve --write", "nix-store --serve"}

// Config wires a Service.
type Config struct {
	Runtime  *commands.Runtime
	Handlers *commands.Handlers
	Accounts *commands.Accounts
	// Store is the server's Nix store: validity, closures, imports, NARs.
	Store *drv.Store
	// Local gives the store's path infos.
	Local binarycache.LocalStore
	// Graph plans the steps of a submitted derivation's closure.
	Graph evaluation.BuildGraph
	// Logs is where the builder worker writes step logs.
	Logs *logstore.Store
	// BaseURL is the web UI's URL, for the message a client sees.
	BaseURL string
	// Queue counts a user's unfinished ad-hoc builds, for MaxQueued.
	Queue QueueCounter
	// MaxQueued caps a user's unfinished ad-hoc builds and
	// MaxSessionBytes the bytes one session copies in (adhoc.CheckQueued,
	// adhoc.CheckSessionBytes); 0 is no cap.
	MaxQueued       int
	MaxSessionBytes int64
	// Owner owns the ad-hoc project when a submission creates it
	// (adhoc.CheckOwner); empty is adhoc.DefaultOwner.
	Owner string
	// PollInterval is how often a waiting session reads the build's
	// stream (default 500 ms).
	PollInterval time.Duration
	Log          *slog.Logger
}

// QueueCounter counts the unfinished builds of a jobset (a read model
// query: a submission racing another may pass the cap by a few).
type QueueCounter interface {
	QueuedBuilds(ctx context.Context, project, jobset string) (int, error)
}

// Service submits ad-hoc builds and serves remote-builder sessions.
type Service struct {
	cfg Config
	log *slog.Logger
}

var _ web.AdhocBuilds = (*Service)(nil)

// New returns the service.
func New(cfg Config) *Service {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg, log: cfg.Log}
}

// Authorize is the SSH server's key check: the user exists, may sign in,
// has the submit-builds role and registered the key. It only reads.
func (s *Service) Authorize(ctx context.Context, userName, fingerprint string) error {
	u, err := s.cfg.Accounts.User(ctx, userName)
	if err != nil {
		return err
	}
	if !u.MaySubmitWith(fingerprint) {
		return errors.New("not a registered key of a user who may submit builds")
	}
	return nil
}

// Commands are the SSH server's exec handlers.
func (s *Service) Commands() map[string]ssh.ExecHandler {
	return map[string]ssh.ExecHandler{
		ServeCommands[0]: func(ctx context.Context, sess *ssh.ServerSession) int { return s.serve(ctx, sess, true) },
		ServeCommands[1]: func(ctx context.Context, sess *ssh.ServerSession) int { return s.serve(ctx, sess, false) },
	}
}

// serve runs one serve-protocol session for an authenticated client.
func (s *Service) serve(ctx context.Context, sess *ssh.ServerSession, write bool) int {
	srv, err := serve.Accept(sess, sess.Stderr, write)
	if err != nil {
		fmt.Fprintf(sess.Stderr, "error: %v\n", err)
		return 1
	}
	b := &backend{s: s, user: sess.User, fingerprint: sess.Fingerprint,
		version: serve.VersionString(srv.ClientVersion())}
	s.log.Info("remote builder session", "user", sess.User, "fingerprint", sess.Fingerprint, "client", b.version, "write", write)
	if err := srv.Serve(ctx, b); err != nil {
		s.log.Info("remote builder session ended", "user", sess.User, "err", err)
		return 1
	}
	return 0
}

// Submission is one ad-hoc build request.
type Submission struct {
	// Metadata records the request (its actor: the user, or their API
	// token).
	Metadata                                 events.Metadata
	User, Via, KeyFingerprint, ClientVersion string
	// DrvPath must be valid in the server's store.
	DrvPath string
}

// Submitted is a recorded ad-hoc build.
type Submitted struct {
	BuildID int64
	// Steps are the derivations it queued to build.
	Steps []string
}

// Submit records the build of a derivation in the server's store.
func (s *Service) Submit(ctx context.Context, sub Submission) (Submitted, error) {
	if s.cfg.Queue != nil && s.cfg.MaxQueued > 0 {
		n, err := s.cfg.Queue.QueuedBuilds(ctx, adhoc.Project, adhoc.Jobset(sub.User))
		if err != nil {
			return Submitted{}, err
		}
		if err := adhoc.CheckQueued(sub.User, n, s.cfg.MaxQueued); err != nil {
			return Submitted{}, err
		}
	}
	valid, err := s.cfg.Store.ValidPaths(ctx, []string{sub.DrvPath})
	if err != nil {
		return Submitted{}, err
	}
	if !valid[sub.DrvPath] {
		return Submitted{}, fmt.Errorf("%s is not in the server's store: copy it first (nix-copy-closure --to, or POST /api/build with its closure): %w", sub.DrvPath, errNotHere)
	}
	d, err := drv.NewReader("").Read(sub.DrvPath)
	if err != nil {
		return Submitted{}, err
	}
	planned, err := s.cfg.Graph.NewPlan().Add(ctx, []string{sub.DrvPath})
	if err != nil {
		return Submitted{}, fmt.Errorf("plan %s: %w", sub.DrvPath, err)
	}
	steps := make([]events.StepQueued, len(planned))
	for i, st := range planned {
		steps[i] = events.StepQueued{DrvPath: st.DrvPath, System: st.System, Outputs: st.Outputs, InputDrvs: st.InputDrvs,
			RequiredFeatures: st.RequiredFeatures, PreferLocal: st.PreferLocal}
	}
	paths, edges, err := s.closureGraph(ctx, sub.DrvPath)
	if err != nil {
		return Submitted{}, err
	}
	var outputs []events.Output
	for _, name := range d.OutputNames() {
		outputs = append(outputs, events.Output{Name: name, Path: d.Outputs[name]})
	}
	id, err := s.cfg.Handlers.SubmitAdhocBuild(ctx, sub.Metadata, commands.SubmitAdhocBuild{UserName: sub.User, Via: sub.Via,
		KeyFingerprint: sub.KeyFingerprint, ClientVersion: sub.ClientVersion, DrvPath: sub.DrvPath, System: d.System,
		Outputs: outputs, Steps: steps, Paths: paths, Edges: edges, Owner: s.cfg.Owner})
	if err != nil {
		return Submitted{}, err
	}
	out := Submitted{BuildID: id}
	for _, st := range steps {
		out.Steps = append(out.Steps, st.DrvPath)
	}
	return out, nil
}

// errNotHere is a derivation the server's store does not hold.
var errNotHere = errors.New("derivation not in the server's store")

// closureGraph returns the store paths of root's closure and the
// references among them.
func (s *Service) closureGraph(ctx context.Context, root string) ([]string, []events.ClosureEdge, error) {
	paths, err := s.cfg.Store.ClosureOf(ctx, []string{root})
	if err != nil {
		return nil, nil, err
	}
	if len(paths) > adhoc.MaxClosurePaths {
		return paths, nil, nil // SubmitAdhocBuild refuses it
	}
	infos, err := s.cfg.Local.PathInfos(ctx, paths...)
	if err != nil {
		return nil, nil, err
	}
	var edges []events.ClosureEdge
	for _, in := range infos {
		for _, r := range in.References {
			if r != in.StorePath {
				edges = append(edges, events.ClosureEdge{From: in.StorePath, To: r})
			}
		}
	}
	return paths, edges, nil
}

// Outcome is how an ad-hoc build ended.
type Outcome struct {
	BuildID int64
	// Status is Hydra's build status (0 success, 4 cancelled, …).
	Status int
}

// Wait follows build id until it finishes, copying the logs of the
// build's steps to log as their attempts run. If ctx ends first (the
// client went away), the build is cancelled as the user cancelling it
// would, so the scheduler stops its steps no other build needs.
func (s *Service) Wait(ctx context.Context, userName string, id int64, drvPaths []string, log io.Writer) (Outcome, error) {
	f := &follower{s: s, log: log, followed: map[string]int{}}
	defer f.wait()
	var l commands.Loaded[buildState]
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		var err error
		l, err = commands.CatchUp(ctx, s.cfg.Runtime, streams.Build(id), buildAggregate, l)
		if err == nil && l.State.finished {
			f.poll(ctx, drvPaths) // attempts that ran between two polls
			f.stop()
			return Outcome{BuildID: id, Status: l.State.status}, nil
		}
		if err != nil && ctx.Err() == nil {
			return Outcome{}, err
		}
		if ctx.Err() == nil {
			f.poll(ctx, drvPaths)
		}
		select {
		case <-ctx.Done():
			f.stop()
			s.cancel(userName, id)
			return Outcome{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// cancel cancels build id for its user after the client went away.
func (s *Service) cancel(userName string, id int64) {
	ctx, done := context.WithTimeout(context.Background(), 30*time.Second)
	defer done()
	md := commands.NewMetadata(commands.UserActor(userName), s.cfg.Runtime)
	if _, err := s.cfg.Handlers.CancelBuild(ctx, md, id); err != nil {
		s.log.Warn("cancel ad-hoc build", "build", id, "err", err)
		return
	}
	s.log.Info("ad-hoc build cancelled: client went away", "build", id, "user", userName)
}

// buildState is what Wait needs of a build's stream.
type buildState struct {
	finished bool
	status   int
}

var buildAggregate = commands.Aggregate[buildState]{Name: "build", Evolve: func(s buildState, p events.Payload) buildState {
	switch e := p.(type) {
	case *events.BuildFinished:
		return buildState{finished: true, status: e.Status}
	case *events.BuildCached:
		if e.Failed {
			return buildState{finished: true, status: 1}
		}
		return buildState{finished: true}
	case *events.BuildCancelled:
		return buildState{finished: true, status: 4}
	case *events.BuildRestarted:
		return buildState{}
	}
	return s
}}

// follower copies the logs of running attempts to one writer.
type follower struct {
	s        *Service
	log      io.Writer
	mu       sync.Mutex
	followed map[string]int // drv path → last attempt followed
	wg       sync.WaitGroup
	// order and cancels: the followed steps and how to stop each.
	order   []string
	cancels []context.CancelFunc
}

// poll starts following each step's newest attempt that has a log.
func (f *follower) poll(ctx context.Context, drvPaths []string) {
	for _, p := range drvPaths {
		l, err := commands.Load(ctx, f.s.cfg.Runtime, streams.Step(p), commands.StepAggregate)
		if err != nil || l.State.Attempt == 0 || l.State.Phase == step.Dispatched || f.followed[p] >= l.State.Attempt {
			continue
		}
		rc, err := f.s.cfg.Logs.Follow(ctx, logstore.Location(p, l.State.Attempt))
		if err != nil {
			continue // not created yet
		}
		if f.followed[p] > 0 {
			f.cancels[slices.Index(f.order, p)]()
		}
		f.followed[p] = l.State.Attempt
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if i := slices.Index(f.order, p); i >= 0 {
			f.cancels[i] = cancel
		} else {
			f.order, f.cancels = append(f.order, p), append(f.cancels, cancel)
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer rc.Close()
			stop := context.AfterFunc(fctx, func() { _ = rc.Close() })
			defer stop()
			buf := make([]byte, 32<<10)
			for {
				n, err := rc.Read(buf)
				if n > 0 {
					f.mu.Lock()
					_, _ = f.log.Write(buf[:n])
					f.mu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// stop ends the followers of logs that are still growing once the
// build is over (their attempt was cut off elsewhere); a finished
// attempt's log is closed and its follower reads it to the end.
func (f *follower) stop() {
	for i, p := range f.order {
		done, err := f.s.cfg.Logs.Finished(logstore.Location(p, f.followed[p]))
		if err != nil || !done {
			f.cancels[i]()
		}
	}
}

func (f *follower) wait() { f.wg.Wait() }

// statusText is Hydra's name of a build status for messages.
func statusText(st int) string {
	names := map[int]string{0: "succeeded", 1: "failed", 2: "dependency failed", 3: "aborted", 4: "cancelled",
		6: "failed with output", 7: "timed out", 9: "unsupported system", 10: "log limit exceeded", 11: "output limit exceeded", 12: "non-deterministic"}
	if s, ok := names[st]; ok {
		return s
	}
	return fmt.Sprintf("status %d", st)
}

// trimDrvOutputs strips "!out,dev" from a BuildPaths path.
func trimDrvOutputs(p string) string {
	if i := strings.IndexByte(p, '!'); i >= 0 {
		return p[:i]
	}
	return p
}

// SubmitBuild is POST /api/build: it imports the paths of export (nil
// for none) under the same rules as a client's copies over SSH, then
// submits drvPath for userName. via names how the request
// authenticated (an API token's id); it is recorded in place of a key
// fingerprint. Refused input is a domainerr.ErrInvalid (422).
func (s *Service) SubmitBuild(ctx context.Context, md events.Metadata, userName, via, drvPath string, export io.Reader) (int64, error) {
	u, err := s.cfg.Accounts.User(ctx, userName)
	if err != nil {
		return 0, err
	}
	// Checked before anything is imported, as SubmitAdhocBuild will again.
	if err := adhoc.MaySubmit(u); err != nil {
		return 0, err
	}
	if export != nil {
		b := &backend{s: s, user: userName, fingerprint: via}
		err := serve.ReadExport(export, func(info serve.PathInfo, nar io.Reader) error { return b.AddPath(ctx, info, nar) })
		if err != nil {
			return 0, domainerr.Invalid("closure", "%v", err)
		}
	}
	sub, err := s.Submit(ctx, Submission{Metadata: md, User: userName, Via: adhoc.ViaAPI, KeyFingerprint: via, DrvPath: drvPath})
	if errors.Is(err, errNotHere) {
		return 0, domainerr.Invalid("drv", "%v", err)
	}
	return sub.BuildID, err
}
