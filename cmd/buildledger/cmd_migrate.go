package main

import (
	"context"
	"errors"
	"fmt"

	"buildledger/adapters/postgres"
)

func runMigrate(ctx context.Context, a *app, args []string) error {
	var (
		cfg       config
		bootstrap bool
	)
	fs := a.newFlagSet("migrate", "migrate [--bootstrap] [flags]")
	cfg.register(fs, false)
	fs.BoolVar(&bootstrap, "bootstrap", false, "with a superuser's --database-url: create the ledger, the roles "+
		postgres.AppRole+" and "+postgres.AnalystRole+" and the pg_trgm extension, as the private cluster does at each start (docs/security.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if bootstrap {
		if cfg.databaseURL == "" {
			return errors.New("migrate --bootstrap: needs a superuser's --database-url; the private cluster bootstraps itself")
		}
		if err := postgres.Bootstrap(ctx, cfg.databaseURL); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "event log ready; connect as %s (--database-url) and %s with search_path=%s (--analyst-database-url)\n",
			postgres.AppRole, postgres.AnalystRole, postgres.AnalystSchema)
		return nil
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		fmt.Fprintln(a.stdout, "event log and read models are up to date")
		return nil
	})
}
