package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/builder"
	"buildledger/adapters/bus"
	"buildledger/adapters/metrics"
	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
)

// queueRunner is the scheduler with its command bus and the builder
// worker that handles the BuildStep commands, as "queue-runner" runs it
// and "up" embeds it.
type queueRunner struct {
	sched   *scheduler.Scheduler
	metrics *metrics.Scheduler
	bus     *bus.Bus
	worker  *builder.Worker
}

// newQueueRunner wires a scheduler to a bus: "gochannel" (in process) or
// "postgres" (watermill-sql in the system's database, schema bus), and a
// builder worker uploading to dest to the bus. close releases the worker
// and its cache.
func (s *system) newQueueRunner(ctx context.Context, transport string, dest binarycache.DestinationURL, wf workerFlags, sc scheduler.Config, log *slog.Logger) (q *queueRunner, close func(), err error) {
	var b *bus.Bus
	switch transport {
	case "gochannel":
		b = bus.NewGoChannel(bus.Options{Logger: log})
	case "postgres":
		if b, err = bus.NewPostgres(ctx, s.pool, bus.Options{Logger: log}); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("--bus %q: want gochannel or postgres", transport)
	}
	worker, releaseCache, err := s.newWorker(dest, wf)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	m := metrics.NewScheduler()
	// Snapshots of the model in commandstate.reactor_snapshots: a start
	// folds only the log after the latest (taken every 100,000 events,
	// every 5 minutes when events came, and at a clean stop).
	sched := scheduler.New(s.runtime, s.codec, b, scheduler.Options{Config: sc, Logger: log, Observer: m,
		Snapshots: postgres.NewReactorSnapshots(s.pool), WorkersInProcess: true})
	m.Watch(sched.Status)
	return &queueRunner{sched: sched, metrics: m, bus: b, worker: worker}, func() { worker.Close(); releaseCache() }, nil
}

// run runs the bus with the worker as its handler, the scheduler (once
// the handler is subscribed) and, with machinesFile, the machines-file
// watcher until ctx ends.
func (q *queueRunner) run(ctx context.Context, s *system, machinesFile string, log *slog.Logger) error {
	defer q.bus.Close()
	g, ctx := errgroup.WithContext(ctx)
	q.bus.Handle(q.worker.Handle)
	g.Go(func() error { return q.bus.Run(ctx) })
	// The in-process bus drops what is sent before the handler subscribes
	// (its lease would send it again, minutes later).
	select {
	case <-q.bus.Ready():
	case <-ctx.Done():
		return g.Wait()
	}
	g.Go(func() error { return supervise(ctx, log, "scheduler", q.sched.Run) })
	if machinesFile != "" {
		g.Go(func() error { return watchMachines(ctx, s, machinesFile, 5*time.Second, log) })
	}
	return g.Wait()
}

// watchMachines syncs the registered machines with file at start and
// whenever its modification time or size changes. A bad file is logged
// and changes nothing.
func watchMachines(ctx context.Context, s *system, file string, every time.Duration, log *slog.Logger) error {
	var lastMod time.Time
	var lastSize int64 = -1
	md := commands.NewMetadata(commands.ComponentActor("machines-file"), s.runtime)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		fi, err := os.Stat(file)
		switch {
		case err != nil:
			log.Warn("machines file", "file", file, "err", err)
		case !fi.ModTime().Equal(lastMod) || fi.Size() != lastSize:
			n, err := syncMachinesFile(ctx, s, md, file)
			if err != nil {
				log.Error("machines file not applied", "file", file, "err", err)
			} else {
				log.Info("machines file applied", "file", file, "changes", n)
			}
			lastMod, lastSize = fi.ModTime(), fi.Size()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// statusHandler serves the scheduler's status as JSON at
// /queue-runner-status and /status, and its Prometheus metrics at /metrics.
func statusHandler(q *queueRunner) (http.Handler, error) {
	sched := q.sched
	reg := prometheus.NewRegistry()
	if err := reg.Register(q.metrics); err != nil {
		return nil, fmt.Errorf("register scheduler metrics: %w", err)
	}
	mux := http.NewServeMux()
	status := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sched.Status())
	}
	mux.HandleFunc("GET /queue-runner-status", status)
	// /status is where Hydra's web asks its queue_runner_endpoint, and
	// where a server's --queue-runner-endpoint asks.
	mux.HandleFunc("GET /status", status)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux, nil
}

func runQueueRunner(ctx context.Context, a *app, args []string) error {
	var cfg config
	var machinesFile, transport, statusListen string
	var cache workerFlags
	var hc hydraConfFlag
	var bf builderFlags
	var baseURL string
	var sc scheduler.Config
	fs := a.newFlagSet("queue-runner", "queue-runner [--machines FILE] [--bus postgres|gochannel] [--status-listen ADDR] [--cache URL] [--builder-listen ADDR] [flags]")
	cfg.register(fs, false)
	cfg.registerPool(fs)
	fs.StringVar(&machinesFile, "machines", "", "Nix machines file to keep the registered machines in sync with (re-read on change)")
	fs.StringVar(&transport, "bus", "postgres", "command bus: postgres (watermill-sql, schema bus) or gochannel (in process)")
	fs.StringVar(&statusListen, "status-listen", "127.0.0.1:9198", "address of /queue-runner-status and /metrics; empty: off")
	fs.IntVar(&sc.MaxTries, "max-tries", scheduler.DefaultConfig().MaxTries, "attempts a step gets when it keeps failing transiently (Hydra's max_tries)")
	fs.Int64Var(&sc.RetryInterval, "retry-interval", scheduler.DefaultConfig().RetryInterval, "seconds before the first retry of a transient failure (Hydra's retry_interval)")
	fs.Float64Var(&sc.RetryBackoff, "retry-backoff", scheduler.DefaultConfig().RetryBackoff, "factor the wait grows by at each retry (Hydra's retry_backoff)")
	cache.register(fs)
	hc.register(fs)
	bf.register(fs)
	fs.StringVar(&baseURL, "base-url", "", "the web UI's public URL, for the build links remote-builder clients see")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if sc.MaxTries < 1 || sc.RetryInterval < 1 || sc.RetryBackoff < 1 {
		return errors.New("queue-runner: --max-tries and --retry-interval must be at least 1, --retry-backoff at least 1.0")
	}
	log := a.logger()
	if err := hc.apply(fs, log); err != nil {
		return err
	}
	dest, err := cache.destination(cfg)
	if err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		q, closeQueue, err := sys.newQueueRunner(ctx, transport, dest, cache, sc, log)
		if err != nil {
			return err
		}
		defer closeQueue()
		if statusListen != "" {
			h, err := statusHandler(q)
			if err != nil {
				return err
			}
			srv := newHTTPServer(h)
			srv.Addr = statusListen
			go func() {
				if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("queue-runner status server", "err", err)
				}
			}()
			defer srv.Close()
			log.Info("queue-runner status", "url", "http://"+statusListen+"/queue-runner-status")
		}
		svc, err := sys.adhocService(baseURL, bf, log)
		if err != nil {
			return err
		}
		serveBuilder, err := sys.remoteBuilder(svc, bf, log)
		if err != nil {
			return err
		}
		if serveBuilder == nil {
			return q.run(ctx, sys, machinesFile, log)
		}
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return serveBuilder(ctx) })
		g.Go(func() error { return q.run(ctx, sys, machinesFile, log) })
		return g.Wait()
	})
}
