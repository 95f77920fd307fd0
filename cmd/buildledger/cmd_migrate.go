package main

import (
	"context"
	"fmt"
)

func runMigrate(ctx context.Context, a *app, args []string) error {
	var cfg config
	fs := a.newFlagSet("migrate", "migrate [flags]")
	cfg.register(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	sys, err := openSystem(ctx, cfg, a.logger())
	if err != nil {
		return err
	}
	defer sys.Close()
	fmt.Fprintln(a.stdout, "event log and read models are up to date")
	return nil
}
