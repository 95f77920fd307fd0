package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"buildledger/adapters/gcroots"
)

// gcRootsParent is where the Nix collector looks for roots; each
// buildledger home gets a directory of its own below it.
const gcRootsParent = "/nix/var/nix/gcroots/buildledger"

// registerGCRoots adds --gc-roots to fs. Its default is a directory under
// gcRootsParent named after the absolute home, so two homes on one machine
// never remove each other's roots.
func registerGCRoots(fs *flag.FlagSet, dir *string) {
	fs.StringVar(dir, "gc-roots", envOr("BUILDLEDGER_GC_ROOTS", "default"),
		`directory of Nix GC roots for the builds to keep (Hydra's rules: unfinished, keep=1, the keepnr latest evals of each jobset); "default" is `+gcRootsParent+`/<home path>, "" turns it off; env BUILDLEDGER_GC_ROOTS`)
}

// gcRootsDir resolves the --gc-roots value for home.
func gcRootsDir(flagValue, home string) (string, error) {
	if flagValue != "default" {
		return flagValue, nil
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return "", fmt.Errorf("gc roots for --home %s: %w", home, err)
	}
	return filepath.Join(gcRootsParent, strings.ReplaceAll(strings.Trim(abs, "/"), "/", "-")), nil
}

func runGCRoots(ctx context.Context, a *app, args []string) error {
	var (
		cfg config
		dir string
	)
	fs := a.newFlagSet("gc-roots", "gc-roots [flags]: update the Nix GC roots once and print what changed")
	cfg.register(fs, false)
	registerGCRoots(fs, &dir)
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := gcRootsDir(dir, cfg.home)
	if err != nil {
		return err
	}
	if dir == "" {
		return fmt.Errorf("gc-roots: --gc-roots is empty")
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		k := gcroots.Keeper{DB: sys.pool, Dir: dir}
		res, err := k.Update(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s: %d roots (%d added, %d removed), %d paths not in the store\n", dir, res.Kept, res.Added, res.Removed, res.Missing)
		return nil
	})
}
