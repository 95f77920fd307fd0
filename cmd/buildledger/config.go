package main

import (
	"flag"
	"os"
	"path/filepath"

	"buildledger/adapters/postgres"
)

// config holds the flags shared by every command that touches the ledger.
type config struct {
	home        string
	databaseURL string
	listen      string
	eventStore  string
	// analystURL is where analysts' SQL projections run (replay
	// --projection); see registerAnalyst.
	analystURL string
	// maxDBConns bounds the writers' database pool; 0 keeps pgx's
	// default. See registerPool.
	maxDBConns int
	// dynamicRunCommand is hydra.conf's <dynamicruncommand> enable, which
	// lets projects and jobsets enable dynamic RunCommand hooks.
	dynamicRunCommand bool
}

// register adds the shared flags to fs, with defaults from the
// environment.
func (c *config) register(fs *flag.FlagSet, withListen bool) {
	fs.StringVar(&c.home, "home", envOr("BUILDLEDGER_HOME", ".buildledger"), "data directory (private Postgres, logs, cache); env BUILDLEDGER_HOME")
	fs.StringVar(&c.databaseURL, "database-url", os.Getenv("BUILDLEDGER_DATABASE_URL"), "use this Postgres instead of the private cluster; env BUILDLEDGER_DATABASE_URL")
	fs.StringVar(&c.eventStore, "eventstore", envOr("BUILDLEDGER_EVENTSTORE", "postgres"), "event store: postgres (the log in the read-model database) or esdb://host:2113?tls=false; env BUILDLEDGER_EVENTSTORE")
	if withListen {
		fs.StringVar(&c.listen, "listen", envOr("BUILDLEDGER_LISTEN", "127.0.0.1:3000"), "address of the web server; env BUILDLEDGER_LISTEN")
	}
}

// registerAnalyst adds --analyst-database-url, for the commands that run
// analysts' SQL projections.
func (c *config) registerAnalyst(fs *flag.FlagSet) {
	fs.StringVar(&c.analystURL, "analyst-database-url", os.Getenv("BUILDLEDGER_ANALYST_DATABASE_URL"),
		"run SQL projections as this role (default: the private cluster's "+postgres.AnalystRole+", or --database-url); env BUILDLEDGER_ANALYST_DATABASE_URL")
}

// registerPool adds --max-db-connections, for the long-running commands
// (Hydra's max_db_connections).
func (c *config) registerPool(fs *flag.FlagSet) {
	fs.IntVar(&c.maxDBConns, "max-db-connections", 0, "most database connections of the writers' pool (projector, scheduler, evaluator, commands); 0: pgx's default, the larger of 4 and the number of CPUs")
}

func (c *config) postgresDir() string { return filepath.Join(c.home, "postgres") }

// logDir holds build logs; cacheDir the binary cache served at /nix-cache/.
func (c *config) logDir() string   { return filepath.Join(c.home, "logs") }
func (c *config) cacheDir() string { return filepath.Join(c.home, "cache") }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
