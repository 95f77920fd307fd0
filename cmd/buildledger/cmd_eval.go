package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"buildledger/adapters/evaluator"
	"buildledger/adapters/inputs"
	"buildledger/adapters/nix/daemon"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/eval"
	"buildledger/adapters/unixuser"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/domain/hydraconf"
	"buildledger/domain/jobset"
)

// evalFlags configure the evaluation service.
type evalFlags struct {
	timeout     time.Duration
	maxMemoryMB int
	workers     int
	gitCache    string
	maxJobs     int
	nice        int
	allowedURIs listFlag
	evalPaths   listFlag
	inputRoots  listFlag
	evalUser    string
	allowIFD    bool
	// pathValidity is how long a path input's URL download is reused.
	pathValidity time.Duration
	// githubEndpoint, gitlabURLs and giteaURLs configure the forge
	// inputs; tokens are hydra.conf's <*_authorization> sections.
	githubEndpoint        string
	gitlabURLs, giteaURLs listFlag
	tokens                map[string]map[string]hydraconf.Secret
}

// listFlag is a flag given once per value.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// register adds the evaluation flags. The sandbox's allow-lists are the
// operator's (whoever runs the server): jobset authors cannot widen them.
func (f *evalFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.timeout, "eval-timeout", eval.DefaultTimeout, "time limit of one evaluation")
	fs.IntVar(&f.maxMemoryMB, "eval-max-memory", eval.DefaultMaxMemoryMB, "memory limit of the evaluator in MiB")
	fs.IntVar(&f.workers, "eval-workers", 2, "Nix processes one evaluation may run at once")
	fs.IntVar(&f.nice, "eval-nice", eval.DefaultNice, "nice value of the Nix processes that evaluate (0: the usual priority; below the server's own needs root)")
	fs.StringVar(&f.gitCache, "git-cache", "", "directory of the git input clones (default HOME/git)")
	fs.IntVar(&f.maxJobs, "eval-max-jobs", evaluation.DefaultMaxJobs, "most jobs one evaluation may have; beyond it the evaluation fails")
	fs.Var(&f.allowedURIs, "allowed-uri", "URI prefix evaluation, and path inputs that are URLs, may fetch from (Nix's allowed-uris; repeatable; default none)")
	fs.DurationVar(&f.pathValidity, "path-input-cache-validity", inputs.DefaultPathValidity, "how long a path input fetched from a URL is reused, unless its value gives seconds")
	fs.Var(&f.evalPaths, "eval-allowed-path", "directory evaluation may read besides the jobset's inputs (repeatable; default none)")
	fs.Var(&f.inputRoots, "input-root", "directory path inputs and local git repositories may come from (repeatable; default none)")
	fs.BoolVar(&f.allowIFD, "allow-import-from-derivation", false, "let evaluation build derivations it imports from (Nix's import-from-derivation; Hydra's default is off)")
	fs.StringVar(&f.githubEndpoint, "github-endpoint", inputs.DefaultGitHubEndpoint, "GitHub's API, which githubpulls and github_refs inputs ask (hydra.conf's github_endpoint)")
	fs.Var(&f.gitlabURLs, "gitlab-url", "a GitLab that gitlabpulls inputs may name, and where <gitlab_authorization> tokens go (repeatable; default none)")
	fs.Var(&f.giteaURLs, "gitea-url", "a Gitea that giteapulls inputs may name, and where <gitea_authorization> tokens go (repeatable; default none)")
	fs.StringVar(&f.evalUser, "eval-user", defaultEvalUser, "when run as root, the unprivileged user evaluations and remote input fetches run as (empty: root)")
}

// defaultEvalUser is the user test/install-deps.sh creates for evaluation.
const defaultEvalUser = "buildledger-eval"

// evalIdentity is whom evaluations run as: the server, unless it is root
// and names a user. That user reaches the store through a nix-daemon of
// the server's, which stop stops.
func (s *system) evalIdentity(ctx context.Context, name string) (id eval.Identity, stop func(), err error) {
	if name == "" || os.Geteuid() != 0 {
		return eval.Identity{}, func() {}, nil
	}
	if id, err = eval.LookupIdentity(name, ""); err != nil {
		return eval.Identity{}, nil, fmt.Errorf("%w (test/install-deps.sh creates %s; --eval-user= evaluates as root, which restrict-eval alone then confines)", err, defaultEvalUser)
	}
	d, err := daemon.Start(ctx, daemon.Options{Gid: id.Credential.Gid, Log: s.log})
	if err != nil {
		return eval.Identity{}, nil, err
	}
	id.Store = d.Store()
	s.log.Info("evaluations run as an unprivileged user", "user", name, "store", id.Store)
	return id, d.Close, nil
}

// newEvalService wires the evaluation service to the real adapters; stop
// releases what it started.
func (s *system) newEvalService(ctx context.Context, f evalFlags) (svc *evaluation.Service, stop func(), err error) {
	cache := f.gitCache
	if cache == "" {
		cache = filepath.Join(s.cfg.home, "git")
	}
	cache, err = filepath.Abs(cache)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, nil, fmt.Errorf("git cache: %w", err)
	}
	evalPaths, err := absPaths(f.evalPaths)
	if err != nil {
		return nil, nil, err
	}
	roots, err := absPaths(f.inputRoots)
	if err != nil {
		return nil, nil, err
	}
	id, stop, err := s.evalIdentity(ctx, f.evalUser)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range evalPaths {
		if !id.IsServer() && !unixuser.Reachable(p, id.Credential) {
			stop()
			return nil, nil, fmt.Errorf("--eval-allowed-path %s: the evaluation user %s cannot reach it", p, id.Name)
		}
	}
	db := &evaluator.DB{Pool: s.pool}
	fetcher := &inputs.Fetcher{CacheDir: cache, Roots: roots, Identity: id,
		AllowedURIs: f.allowedURIs, PathValidity: f.pathValidity, Forges: f.forges()}
	s.inputs = fetcher
	ports := evaluation.Ports{
		Inputs: &evaluator.Inputs{Fetcher: fetcher, Builds: db},
		Caches: fetcher,
		Nix: &evaluator.Nix{Timeout: f.timeout, MaxMemoryMB: f.maxMemoryMB, Workers: f.workers,
			AllowedURIs: f.allowedURIs, AllowedPaths: evalPaths, Identity: id, AllowIFD: f.allowIFD, Nice: f.nice},
		Graph:   &evaluator.Graph{Store: &drv.Store{}},
		Status:  db,
		Outputs: &evaluator.Outputs{},
		Checks:  &evaluator.Checks{Pool: s.pool},
		Specs:   fetcher,
		Jobsets: db,
	}
	host, _ := os.Hostname()
	alloc := commands.NewAllocator(s.runtime, commands.AllocatorOptions{})
	return evaluation.New(s.runtime, s.codec, alloc, ports, evaluation.Options{Host: host, Logger: s.log, MaxJobs: f.maxJobs}), stop, nil
}

// forges is the forge inputs' configuration, with hydra.conf's tokens.
func (f evalFlags) forges() inputs.Forges {
	tokens := func(section string) map[string]string {
		out := map[string]string{}
		for k, v := range f.tokens[section] {
			out[k] = string(v)
		}
		return out
	}
	return inputs.Forges{GitHubEndpoint: f.githubEndpoint, GitHubTokens: tokens("github_authorization"),
		GitLabURLs: f.gitlabURLs, GitLabTokens: tokens("gitlab_authorization"),
		GiteaURLs: f.giteaURLs, GiteaTokens: tokens("gitea_authorization")}
}

// absPaths makes the operator's directories absolute, as Nix and the
// fetcher need them.
func absPaths(dirs []string) ([]string, error) {
	out := make([]string, len(dirs))
	for i, d := range dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("directory %s: %w", d, err)
		}
		out[i] = a
	}
	return out, nil
}

func runEval(ctx context.Context, a *app, args []string) error {
	var (
		cfg   config
		ef    evalFlags
		hc    hydraConfFlag
		force bool
	)
	fs := a.newFlagSet("eval", "eval PROJECT JOBSET [flags]")
	cfg.register(fs, false)
	cfg.registerPool(fs)
	ef.register(fs)
	hc.register(fs)
	fs.BoolVar(&force, "force", false, "evaluate even if the inputs did not change (after the running evaluation, if any)")
	pos, rest := leadingArgs(args, 2)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 2 {
		fs.Usage()
		return errors.New("want PROJECT JOBSET")
	}
	if err := hc.apply(fs, a.logger()); err != nil {
		return err
	}
	ef.tokens = hc.kept.Authorization
	return a.withLedger(ctx, cfg, func(sys *system) error {
		svc, stop, err := sys.newEvalService(ctx, ef)
		if err != nil {
			return err
		}
		defer stop()
		md := commands.NewMetadata(commands.ComponentActor("evaluator"), sys.runtime)
		sum, err := svc.EvaluateNow(ctx, md, evaluation.Evaluate{Project: pos[0], Jobset: pos[1], Force: force, Waiting: func(id int64) {
			fmt.Fprintf(a.stdout, "evaluation %d of %s:%s is running; waiting for it\n", id, pos[0], pos[1])
		}})
		if err != nil {
			return err
		}
		printSummary(a, sum)
		if sum.Outcome == jobset.OutcomeFailed {
			return fmt.Errorf("evaluation %d failed", sum.EvalID)
		}
		return nil
	})
}

func printSummary(a *app, s evaluation.Summary) {
	w := a.stdout
	fmt.Fprintf(w, "evaluation %d of %s:%s: %s\n", s.EvalID, s.Project, s.Jobset, s.Outcome)
	switch s.Outcome {
	case jobset.OutcomeCached:
		fmt.Fprintf(w, "inputs unchanged since evaluation %d (hash %s)\n", s.CachedFrom, s.Hash)
	case jobset.OutcomeFailed:
		fmt.Fprintf(w, "%s error:\n%s\n", s.Phase, s.Error)
	default:
		fmt.Fprintf(w, "jobs: %d  builds: %d  new builds: %d (already built: %d)  steps queued: %d  errors: %d\n",
			s.Jobs, s.Builds, s.NewBuilds, s.CachedBuilds, s.Steps, s.Errors)
		fmt.Fprintf(w, "checkout %s  eval %s\n", s.CheckoutTime.Round(time.Millisecond), s.EvalTime.Round(time.Millisecond))
	}
}

// leadingArgs splits up to n positional arguments off the front of args
// (before the first flag).
func leadingArgs(args []string, n int) (pos, rest []string) {
	for len(args) > 0 && len(pos) < n && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	return pos, args
}
