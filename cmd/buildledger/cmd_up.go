package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/evaluator"
	"buildledger/adapters/gcroots"
	"buildledger/adapters/postgres/queries"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	declreactor "buildledger/commands/reactors/declarative"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/domainerr"
	"buildledger/domain/password"
	"buildledger/projections"
)

func runUp(ctx context.Context, a *app, args []string) error {
	var (
		cfg          config
		wopt         webOptions
		ef           evalFlags
		maxEvals     int
		machinesFile string
		rootsFlag    string
		cache        workerFlags
		hc           hydraConfFlag
		adminPWFile  string
		tl           tlogOptions
		nf           notifyFlags
		bf           builderFlags
	)
	fs := a.newFlagSet("up", "up [flags]")
	cfg.register(fs, true)
	cfg.registerPool(fs)
	wopt.register(fs)
	ef.register(fs)
	fs.IntVar(&maxEvals, "max-concurrent-evals", evaluation.DefaultMaxConcurrent, "most evaluations running at once")
	fs.StringVar(&machinesFile, "machines", "", "Nix machines file of extra build machines (re-read on change); localhost is always registered")
	registerGCRoots(fs, &rootsFlag)
	cache.register(fs)
	hc.register(fs)
	tl.register(fs)
	bf.register(fs)
	fs.StringVar(&adminPWFile, "admin-password-file", "", "file (mode 0600) holding the password of the user admin created at the first start")
	nf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := a.logger()
	if err := hc.apply(fs, log); err != nil {
		return err
	}
	ef.tokens = hc.kept.Authorization
	cfg.dynamicRunCommand = hc.kept.DynamicRunCommand
	rootsDir, err := gcRootsDir(rootsFlag, cfg.home)
	if err != nil {
		return err
	}
	dest, err := cache.destination(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.home, 0o755); err != nil {
		return fmt.Errorf("create --home %s: %w", cfg.home, err)
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		login, err := sys.ensureAdmin(ctx, a, adminPWFile)
		if err != nil {
			return err
		}
		if err := sys.ensureLocalMachine(ctx); err != nil {
			return err
		}
		evals, stopEvals, err := sys.newEvalService(ctx, ef)
		if err != nil {
			return err
		}
		defer stopEvals()
		wopt.scmDiff = sys.inputs
		queue, closeQueue, err := sys.newQueueRunner(ctx, "gochannel", dest, cache, scheduler.Config{}, log)
		if err != nil {
			return err
		}
		defer closeQueue()

		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		projector, err := sys.newProjector(reg)
		if err != nil {
			return err
		}
		reg.MustRegister(queue.metrics, queue.worker.Collector())

		wopt.ops = map[string]http.Handler{
			"/healthz":             healthz(sys, log),
			"/metrics":             promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			"/queue-runner-status": queueStatusHandler(func() upStatus { return upStatus{queue.sched.Status(), projector.Status()} }),
		}
		tlogServer, tlogSigner, err := tl.open(sys, wopt.baseURL)
		if err != nil {
			return err
		}
		if tlogServer != nil {
			wopt.transparencyLog = tlogServer
		}
		wopt.provenanceKey, err = provenanceKey(cfg.home, wopt.provenanceKeyFile)
		if err != nil {
			return err
		}
		notify, err := sys.newNotifiers(hc.kept, wopt.baseURL, nf, log)
		if err != nil {
			return fmt.Errorf("--hydra-conf: %w", err)
		}
		adhocSvc, err := sys.adhocService(baseURLOf(wopt.baseURL, cfg.listen), bf, log)
		if err != nil {
			return err
		}
		wopt.adhoc = adhocSvc
		wopt.mail = notify.mail
		site, err := sys.newWeb(ctx, wopt)
		if err != nil {
			return err
		}

		ln, err := net.Listen("tcp", cfg.listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.listen, err)
		}
		srv := newHTTPServer(site)
		ln = netutil.LimitListener(ln, maxConnections)
		fmt.Fprintf(a.stdout, "buildledger is up: http://%s\n%s\n", ln.Addr(), login)

		serveBuilder, err := sys.remoteBuilder(adhocSvc, bf, log)
		if err != nil {
			return err
		}
		g, ctx := errgroup.WithContext(ctx)
		if serveBuilder != nil {
			g.Go(func() error { return serveBuilder(ctx) })
		}
		// A restart of Postgres must not end up: each loop is started again
		// after a transient database error (supervise), and the web answers
		// 503 until the database is back.
		g.Go(func() error { return supervise(ctx, log, "projector", projector.Run) })
		g.Go(func() error {
			return evaluation.NewTrigger(evals, evaluation.TriggerOptions{MaxConcurrent: maxEvals, Logger: log}).Run(ctx)
		})
		g.Go(func() error { return queue.run(ctx, sys, machinesFile, log) })
		specs := declreactor.New(sys.runtime, sys.codec, commands.NewAllocator(sys.runtime, commands.AllocatorOptions{}),
			binarycache.StoreFiles{Dir: "/nix/store"}, &evaluator.DB{Pool: sys.pool}, declreactor.Options{Logger: log})
		g.Go(func() error { return supervise(ctx, log, "declarative reactor", specs.Run) })
		if dest.Scheme == "file" {
			// Each build's signed provenance goes next to its outputs'
			// narinfos; another destination only has it from the web.
			cacheFiles, err := binarycache.NewFileWriter(dest.Dir, binarycache.FileWriterOptions{Logger: log})
			if err != nil {
				return err
			}
			pub := &binarycache.ProvenancePublisher{Statements: queries.New(sys.pool), Key: wopt.provenanceKey, Cache: cacheFiles, Logger: log}
			g.Go(func() error { pub.Run(ctx, provenanceEvery); return nil })
		}
		notify.run(ctx, g, log)
		if rootsDir != "" {
			keeper := &gcroots.Keeper{DB: sys.pool, Dir: rootsDir, Log: log}
			g.Go(func() error { return keeper.Run(ctx) })
		}
		if tlogServer != nil {
			g.Go(func() error { return publishCheckpoints(ctx, tlogServer.Tree, tlogSigner, tl.interval, log) })
		}
		g.Go(func() error { return serveHTTP(ctx, srv, ln) })
		err = g.Wait()
		log.Info("buildledger stopped")
		return err
	})
}

// healthz answers "ok" while the database answers.
func healthz(sys *system, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The error is logged, not shown: it can name hosts and roles.
		if err := sys.pool.Ping(r.Context()); err != nil {
			log.Warn("health check: database unreachable", "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// upStatus is up's /queue-runner-status: Hydra's queue-runner status plus
// how each read-model projection is doing, paused ones included.
type upStatus struct {
	scheduler.Status
	Projections []projections.ProjectionStatus `json:"projections"`
}

// provenanceEvery is how often up stores new provenance in a file://
// cache: a build's envelope appears there this long after the projector
// wrote its statement, at most.
const provenanceEvery = 2 * time.Second

// adminPasswordEnv may choose the admin's password at the first start.
const adminPasswordEnv = "BUILDLEDGER_ADMIN_PASSWORD"

// adminPassword is the password the user admin gets at the first start,
// and where it came from: file (a 0600 file), else the environment, else
// generated. The environment variable is removed once read, so that no
// child process (Nix, git, ssh, a build) can inherit it.
func adminPassword(file string) (pw, from string, err error) {
	env := os.Getenv(adminPasswordEnv)
	if err := os.Unsetenv(adminPasswordEnv); err != nil {
		return "", "", err
	}
	switch {
	case file != "":
		pw, err := readSecretFile(file)
		if err != nil {
			return "", "", fmt.Errorf("--admin-password-file: %w", err)
		}
		return pw, "the password from " + file, nil
	case env != "":
		return env, "the password from " + adminPasswordEnv, nil
	}
	return generatePassword(), "", nil
}

// ensureAdmin creates the user admin on first start, with the password
// adminPassword gives. It returns the line that tells a person how to log
// in, on every start.
func (s *system) ensureAdmin(ctx context.Context, a *app, pwFile string) (string, error) {
	pw, from, err := adminPassword(pwFile)
	if err != nil {
		return "", err
	}
	hash, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return "", err
	}
	md := commands.NewMetadata(commands.ComponentActor("up"), s.runtime)
	_, err = s.handlers.CreateUser(ctx, md, commands.CreateUser{UserName: "admin", FullName: "Administrator", EmailAddress: "admin@localhost", PasswordHash: hash, Roles: []string{"admin"}})
	switch {
	case errors.Is(err, domainerr.ErrAlreadyExists):
		return "log in as admin with the password set at this home's first start " +
			"(printed then, or taken from --admin-password-file or " + adminPasswordEnv + ")", nil
	case err != nil:
		return "", fmt.Errorf("create the admin user: %w", err)
	case from == "":
		fmt.Fprintf(a.stdout, "created user admin with password %s (shown once; give --admin-password-file before the first start to choose it)\n", pw)
		return "log in as admin with the password printed above", nil
	default:
		fmt.Fprintf(a.stdout, "created user admin with %s\n", from)
		return "log in as admin with " + from, nil
	}
}
