package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/hydraimport"
)

const importUsage = "import hydra --from postgres://…/hydra [--chunk N]"

// runImport reads another CI server's database into the ledger; Hydra's
// is the one it knows.
func runImport(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "hydra" {
		return errors.New("usage: buildledger " + importUsage)
	}
	var (
		cfg   config
		from  string
		chunk int
	)
	fs := a.newFlagSet("import hydra", importUsage)
	cfg.register(fs, false)
	fs.StringVar(&from, "from", "", "URL of the Hydra database to read (read only; schema version 80 to 87)")
	fs.IntVar(&chunk, "chunk", 5000, "builds read and appended per batch")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if from == "" {
		fs.Usage()
		return errors.New("--from is required: the URL of the Hydra database")
	}
	src, err := pgxpool.New(ctx, from)
	if err != nil {
		return fmt.Errorf("open the Hydra database: %w", err)
	}
	defer src.Close()
	return a.withLedger(ctx, cfg, func(sys *system) error {
		log, ok := sys.store.(hydraimport.Log)
		if !ok {
			return errors.New("import hydra needs the Postgres event log (--eventstore postgres); copy the log to another store afterwards with events copy")
		}
		st, err := hydraimport.New(src, log, sys.handlers, hydraimport.Options{ChunkBuilds: chunk, Logger: sys.log}).Run(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "imported from Hydra: %d builds, %d evaluations, %d users (%d skipped); %d events appended, %d already recorded\n",
			st.Rows["Builds"], st.Rows["JobsetEvals"], st.Users, st.UsersSkipped, st.Appended, st.Skipped)
		return nil
	})
}
