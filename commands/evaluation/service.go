package evaluation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/ids"
	"buildledger/domain/jobset"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Defaults of Options.
const (
	// DefaultMaxAppendBytes keeps every append below EventStoreDB's 1 MiB
	// limit with room for metadata.
	DefaultMaxAppendBytes = 900 << 10
	DefaultAppendWorkers  = 8
	// DefaultRecordChunk is the most jobs recorded at once while Nix
	// evaluates: fewer would spend more on allocating ids, planning and
	// appending per job.
	DefaultRecordChunk = 500
	// DefaultAwaitPoll is how often EvaluateNow looks whether the
	// evaluation it waits for has ended.
	DefaultAwaitPoll = 250 * time.Millisecond
	// DefaultMaxJobs is the default of Options.MaxJobs: above nixpkgs'
	// release set (about 80,000 jobs on Hydra).
	DefaultMaxJobs = 200_000
)

// Options tune a Service. The zero value is ready to use.
type Options struct {
	// Host is recorded in EvaluationOpened and in event metadata.
	Host string
	// MaxAppendBytes bounds the encoded size of one append.
	MaxAppendBytes int
	// AppendWorkers is how many build and step streams are appended to at
	// once.
	AppendWorkers int
	// RecordChunk is the most jobs recorded at once while Nix evaluates:
	// the first chunk is one job and each next one twice the last, up to
	// RecordChunk, so the first jobs are queued as soon as Nix reports
	// them. The jobs left when Nix ends are recorded then.
	RecordChunk int
	// MaxJobs caps the jobs (and job errors) of one evaluation: each adds
	// events to a log that is never trimmed, and a jobset's authors choose
	// how many there are. An evaluation beyond it fails and keeps none.
	// Default DefaultMaxJobs.
	MaxJobs int
	// AwaitPoll is how often EvaluateNow looks whether the evaluation it
	// waits for has ended. Default DefaultAwaitPoll.
	AwaitPoll time.Duration
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
	// MaxDeclarativeJobsets caps the jobsets one declarative spec may
	// declare. Default declarative.DefaultMaxJobsets.
	MaxDeclarativeJobsets int
}

// Ports are the adapters a Service works through. Status may be nil when
// no one-at-a-time jobset is scheduled.
type Ports struct {
	Inputs InputFetcher
	Nix    Evaluator
	Graph  BuildGraph
	Status BuildStatus
	// Outputs, if set, scrapes the nix-support files of builds whose
	// outputs are already valid.
	Outputs OutputScanner
	// Checks, if set, keeps the checks that found the inputs unchanged.
	Checks Checks
	// Specs, if set, reads declarative projects' spec files: without it
	// ".jobsets" is evaluated as any jobset. Jobsets names a project's
	// jobsets, so that those a spec drops are disabled.
	Specs   SpecReader
	Jobsets JobsetLister
	// Caches, if set, is told of the clearings of the input caches
	// (caches-vcs) before each fetch.
	Caches CacheClearer
}

// Service evaluates jobsets into events. It is safe for concurrent use;
// evaluations of one jobset exclude each other through the jobset's
// stream.
type Service struct {
	rt    *commands.Runtime
	codec *events.Codec
	ids   *commands.Allocator
	ports Ports
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	prev    map[int64]map[string]prevBuild // builds of recent evals, by member key
	clearMu sync.Mutex
	// cleared is the caches-vcs stream folded so far (under clearMu).
	cleared commands.Loaded[int64]
}

// New returns a Service appending through rt (encoding with codec) and
// taking eval and build ids from alloc.
func New(rt *commands.Runtime, codec *events.Codec, alloc *commands.Allocator, ports Ports, opts Options) *Service {
	if opts.MaxAppendBytes <= 0 {
		opts.MaxAppendBytes = DefaultMaxAppendBytes
	}
	if opts.AppendWorkers <= 0 {
		opts.AppendWorkers = DefaultAppendWorkers
	}
	if opts.RecordChunk <= 0 {
		opts.RecordChunk = DefaultRecordChunk
	}
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = DefaultMaxJobs
	}
	if opts.AwaitPoll <= 0 {
		opts.AwaitPoll = DefaultAwaitPoll
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{rt: rt, codec: codec, ids: alloc, ports: ports, opts: opts, log: log,
		prev: make(map[int64]map[string]prevBuild)}
}

// Evaluate is the command to evaluate jobset Jobset of Project.
type Evaluate struct {
	Project, Jobset string
	// Force evaluates even if the inputs did not change.
	Force bool
	// Waiting, if set, is called when EvaluateNow starts waiting for the
	// running evaluation evalID, so that a person is told why nothing
	// happens yet.
	Waiting func(evalID int64)
}

// metadata checks the metadata of a command as commands.Execute does
// (it must name an actor) and completes it for the events the Service
// encodes itself: this host, and a fresh correlation id when the caller
// gave none, so that all events of one command share it.
func (s *Service) metadata(md events.Metadata) (events.Metadata, error) {
	if md.Actor == "" {
		return md, commands.ErrNoActor
	}
	if md.CorrelationID == "" {
		md = commands.NewMetadata(md.Actor, s.rt)
	}
	md.Host = s.opts.Host
	return md, nil
}

// Summary tells what an evaluation did.
type Summary struct {
	Project string
	Jobset  string
	// EvalID is the evaluation's id (0 if it never opened).
	EvalID int64
	// Outcome is jobset.OutcomeFinished, jobset.OutcomeCached or jobset.OutcomeFailed.
	Outcome string
	// CachedFrom is the earlier evaluation a cached one matched.
	CachedFrom int64
	// CheckedAt is the Unix time a cached check ended; Recorded the log
	// position of its EvaluationCached, zero when the log did not need
	// one.
	CheckedAt int64
	Recorded  events.Position
	// Phase and Error describe a failure ("fetch" or "eval").
	Phase string
	Error string
	// Jobs counts evaluated jobs, Builds their builds, NewBuilds the new
	// ones, CachedBuilds the new ones whose outputs were already valid,
	// Steps the queued derivations, Errors the failed jobs.
	Jobs, Builds, NewBuilds, CachedBuilds, Steps, Errors int
	HasNewBuilds                                         bool
	Hash                                                 string
	CheckoutTime, EvalTime                               time.Duration
	// GraphTime is the time spent reading the build graph of the new
	// builds, most of it while Nix ran; RecordTime the time from Nix's end
	// to EvaluationFinished: recording what was left (the last jobs,
	// aggregates, the jobs of earlier builds, withdrawals).
	GraphTime, RecordTime time.Duration
}

// Evaluate runs one evaluation of cmd's jobset now, with md's actor. Failures of the
// evaluation itself (fetch errors, Nix errors) are recorded and reported
// in the Summary with a nil error; the error is for a jobset that does
// not exist (domainerr.ErrNotFound), one already being evaluated
// (jobset.ErrEvaluating) and failures of the ledger. An evaluation
// interrupted by such a failure or by ctx is closed as failed when the
// ledger allows it.
//
// The inputs are fetched before the evaluation is opened: a check that
// finds them unchanged (Hydra's cached evaluation) opens none, and
// records itself as check does.
func (s *Service) Evaluate(ctx context.Context, md events.Metadata, cmd Evaluate) (Summary, error) {
	project, name := cmd.Project, cmd.Jobset
	sum := Summary{Project: project, Jobset: name}
	md, err := s.metadata(md)
	if err != nil {
		return sum, err
	}
	if !names.Project(project) || !names.Jobset(name) {
		return sum, domainerr.NotFound("jobset", project+":"+name)
	}
	stream := streams.Jobset(project, name)
	for attempt := 1; ; attempt++ {
		l, err := commands.Load(ctx, s.rt, stream, commands.JobsetAggregate)
		if err != nil {
			return sum, err
		}
		if !l.State.Exists {
			return sum, domainerr.NotFound("jobset", project+":"+name)
		}
		if err := jobset.MayEvaluate(l.State); err != nil {
			return sum, err
		}
		var done, generated bool
		sum, done, generated, err = s.declarativeSpec(ctx, md, l.State, sum)
		if done || err != nil {
			return sum, err
		}
		if generated {
			// ".jobsets" may have just taken the generated spec's
			// configuration: evaluate that one.
			if l, err = commands.Load(ctx, s.rt, stream, commands.JobsetAggregate); err != nil {
				return sum, err
			}
		}
		start := s.rt.Clock().Now()
		f, err := s.fetch(ctx, l.State)
		if err != nil {
			return sum, err
		}
		sum.CheckoutTime, sum.Hash = f.checkoutTime, f.hash
		force := cmd.Force || l.State.Force
		if jobset.Unchanged(l.State, f.okHash(), cmd.Force) {
			return s.check(ctx, md, l.State, f.hash, start, sum)
		}
		sum, err = s.open(ctx, md, l.State, f, force, start, sum)
		if (errors.Is(err, jobset.ErrConfigChanged) || errors.Is(err, jobset.ErrInputsUnchanged)) && attempt < 3 {
			continue // fetched for a configuration that is no more, or evaluated meanwhile
		}
		return sum, err
	}
}

// open opens an evaluation of js, whose inputs f holds, and carries it
// to its end.
func (s *Service) open(ctx context.Context, md events.Metadata, js jobset.State, f fetched, force bool, start time.Time, sum Summary) (Summary, error) {
	evalID, err := s.ids.Next(ctx, ids.KindEval, 1)
	if err != nil {
		return sum, fmt.Errorf("allocate eval id: %w", err)
	}
	stream := streams.Jobset(js.Project, js.Name)
	var state jobset.State
	_, err = commands.Execute(ctx, s.rt, stream, commands.JobsetAggregate, func(cur jobset.State) ([]events.Payload, error) {
		state = cur
		return jobset.Open(cur, jobset.OpenEvaluation{EvalID: evalID, ID: js.ID, Config: js.Config, Host: s.opts.Host,
			StartTime: start.Unix(), Force: force, Hash: f.okHash()})
	}, md)
	if err != nil {
		return sum, err
	}
	sum.EvalID = evalID
	r := &run{s: s, md: md, state: state, evalID: evalID, start: start, force: force || state.Force,
		eval: &streamWriter{stream: streams.Eval(evalID), expect: events.NoStream}, sum: &sum}
	if err := r.do(ctx, f); err != nil {
		// Close the evaluation so that the jobset is not left locked and
		// nothing staged lingers in the read models.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if cerr := r.fail(cctx, "eval", "evaluation aborted: "+err.Error()); cerr != nil {
			s.log.ErrorContext(ctx, "could not close aborted evaluation", "eval", evalID, "err", cerr)
		}
		return sum, fmt.Errorf("evaluate %s:%s (eval %d): %w", js.Project, js.Name, evalID, err)
	}
	return sum, nil
}

// clearCaches folds the clearings of the input caches recorded since the
// last call and passes the latest on to Ports.Caches. The stream is read
// from the log, not pushed: the web that records a clearing may be
// another process. A failure is logged, not the evaluation's: at worst a
// cached input is used once more.
func (s *Service) clearCaches(ctx context.Context) {
	if s.ports.Caches == nil {
		return
	}
	s.clearMu.Lock()
	defer s.clearMu.Unlock()
	l, err := commands.CatchUp(ctx, s.rt, streams.VCSCaches(), commands.VCSCachesAggregate, s.cleared)
	if err != nil {
		s.log.WarnContext(ctx, "input caches: clearings not read", "err", err)
		return
	}
	s.cleared = l
	if l.State == 0 {
		return
	}
	// An entry written in the second of the clearing may predate it.
	if err := s.ports.Caches.ForgetCachesBefore(time.Unix(l.State+1, 0)); err != nil {
		s.log.WarnContext(ctx, "input caches not cleared", "err", err)
	}
}
