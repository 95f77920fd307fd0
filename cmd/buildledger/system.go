package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/inputs"
	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/adhoc"
	"buildledger/projections/analytics"
	"buildledger/projections/hydra"
	"buildledger/projections/insights"
	"buildledger/projections/ledger"
	"buildledger/projections/notifications"
	"buildledger/projections/provenance"
	"buildledger/projections/tokens"
)

// system is the wired ledger: database, event store, codec and command
// runtime.
type system struct {
	cfg     config
	log     *slog.Logger
	cluster *postgres.Cluster
	// url is the application's database; pool is its writers' pool
	// (commands, projector, scheduler, evaluator).
	url  string
	pool *pgxpool.Pool
	// webPool, opened by newWeb, serves the web's reads apart from the
	// writers, with a statement timeout.
	webPool  *pgxpool.Pool
	store    events.Store
	codec    *events.Codec
	runtime  *commands.Runtime
	handlers *commands.Handlers
	// vault keeps users' password hashes and profile keys.
	vault *postgres.Vault
	// closeStore releases an event store that is not the Postgres log.
	closeStore func()
	// inputs is the evaluation service's input fetcher, set by
	// newEvalService; the web diffs repositories in its clones.
	inputs *inputs.Fetcher
}

// openSystem connects to the database (starting the private cluster when
// no URL is given), migrates it and opens the event store.
func openSystem(ctx context.Context, cfg config, log *slog.Logger) (*system, error) {
	s := &system{cfg: cfg, log: log, codec: events.NewCodec()}
	url := cfg.databaseURL
	if url == "" {
		c, err := postgres.StartCluster(ctx, postgres.ClusterOptions{
			DataDir: cfg.postgresDir(),
			Durable: true,
			Logf:    func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) },
		})
		if err != nil {
			return nil, err
		}
		s.cluster = c
		if url, err = bootstrapCluster(ctx, c); err != nil {
			s.Close()
			return nil, err
		}
		if s.cfg.analystURL == "" {
			s.cfg.analystURL, _ = postgres.AnalystURL(c.AdminURL("postgres"))
		}
	}
	pool, err := postgres.OpenWith(ctx, url, postgres.PoolOptions{MaxConns: int32(min(max(cfg.maxDBConns, 0), 1000))})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.url, s.pool = url, pool
	if err := postgres.Migrate(ctx, pool); err != nil {
		s.Close()
		return nil, err
	}
	switch {
	case cfg.eventStore == "" || cfg.eventStore == "postgres" || cfg.eventStore == "pglog":
		s.store = pglog.New(pool, pglog.Options{Retry: postgres.Retry{Log: log}})
	case strings.HasPrefix(cfg.eventStore, "esdb"):
		store, closeStore, err := openESDB(ctx, cfg.eventStore, log)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.store, s.closeStore = store, closeStore
	default:
		s.Close()
		return nil, fmt.Errorf("--eventstore %q: want postgres or an esdb:// connection string", cfg.eventStore)
	}
	host, _ := os.Hostname()
	s.runtime = commands.NewRuntime(s.store, s.codec, commands.Options{Host: host, Logger: log,
		Snapshots: postgres.NewSnapshots(pool), DynamicRunCommand: cfg.dynamicRunCommand})
	s.vault = postgres.NewVault(pool)
	s.handlers = commands.NewHandlers(s.runtime, commands.NewAllocator(s.runtime, commands.AllocatorOptions{}), s.vault)
	return s, nil
}

// bootstrapCluster prepares the private cluster's database as its
// superuser and returns the URL the application connects with, as the
// unprivileged AppRole.
func bootstrapCluster(ctx context.Context, c *postgres.Cluster) (string, error) {
	admin := c.AdminURL("postgres")
	if err := postgres.WaitReady(ctx, admin, 30*time.Second); err != nil {
		return "", err
	}
	if err := postgres.Bootstrap(ctx, admin); err != nil {
		return "", err
	}
	return postgres.AppURL(admin)
}

// analystPool connects where analysts' SQL runs: as AnalystRole in the
// private cluster, or at --analyst-database-url. With only --database-url
// it is that database, with the application's rights, as before roles
// existed; docs/security.md says which role to give it.
func (s *system) analystPool(ctx context.Context) (*pgxpool.Pool, error) {
	url := s.cfg.analystURL
	if url == "" {
		s.log.Warn("no --analyst-database-url: the SQL projection runs with the application's database rights")
		url = s.cfg.databaseURL
	}
	return postgres.Open(ctx, url)
}

// Close releases the database and stops the private cluster if this
// process started it.
func (s *system) Close() {
	if s.closeStore != nil {
		s.closeStore()
	}
	if s.webPool != nil {
		s.webPool.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.cluster.Stop(ctx); err != nil {
			s.log.Warn("stop postgres", "err", err)
		}
	}
}

// readModels is every projection that writes the read models, in the
// order they apply a batch. keys opens users' sealed profiles; listing
// the projections needs none.
func readModels(keys hydra.UserKeys) []projections.Projection {
	return []projections.Projection{hydra.Projection{Keys: keys}, ledger.Projection{}, tokens.Projection{}, insights.Projection{},
		analytics.QueueWait{}, analytics.BuildDuration{}, provenance.Projection{}, notifications.Projection{},
		adhoc.Projection{}}
}

// withLedger opens the ledger cfg names (the private cluster, or
// --database-url), runs f with it and closes it: what every subcommand
// that reads or writes the ledger does once its flags are parsed.
func (a *app) withLedger(ctx context.Context, cfg config, f func(*system) error) error {
	sys, err := openSystem(ctx, cfg, a.logger())
	if err != nil {
		return err
	}
	defer sys.Close()
	return f(sys)
}
