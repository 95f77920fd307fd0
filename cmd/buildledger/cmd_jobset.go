package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"buildledger/commands"
	"buildledger/events"
)

func runJobset(ctx context.Context, a *app, args []string) error {
	const usage = "jobset create PROJECT NAME [--type legacy|flake] [--nixexprinput I --nixexprpath P] [--input NAME=TYPE:VALUE]... [--flake URI] [flags]"
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: buildledger " + usage)
	}
	var (
		cfg    config
		jc     = events.JobsetConfig{Enabled: 1, EnableEmail: true, KeepNr: 3, SchedulingShares: 100}
		typ    string
		ins    stringList
		reqNow bool
	)
	fs := a.newFlagSet("jobset create", usage)
	cfg.register(fs, false)
	fs.StringVar(&typ, "type", "legacy", "legacy (a Nix expression in an input) or flake")
	fs.StringVar(&jc.NixExprInput, "nixexprinput", "", "input holding the Nix expression (legacy)")
	fs.StringVar(&jc.NixExprPath, "nixexprpath", "release.nix", "path of the expression inside that input (legacy)")
	fs.StringVar(&jc.Flake, "flake", "", "flake URI (flake)")
	fs.Var(&ins, "input", "input NAME=TYPE:VALUE, e.g. src=git:https://example.org/repo.git main; repeatable")
	fs.IntVar(&jc.CheckInterval, "check-interval", 300, "seconds between polls of the inputs (0: only on request; else at least 60)")
	fs.IntVar(&jc.Enabled, "enabled", 1, "0 disabled, 1 enabled, 2 one-shot, 3 one-at-a-time")
	fs.IntVar(&jc.KeepNr, "keep", 3, "number of evaluations whose builds are kept")
	fs.IntVar(&jc.SchedulingShares, "shares", 100, "scheduling shares")
	fs.Float64Var(&jc.VerifyFraction, "verify-fraction", 0, "share (0 to 1) of built derivations rebuilt on another machine to check reproducibility")
	fs.StringVar(&jc.Description, "description", "", "description")
	fs.BoolVar(&reqNow, "evaluate", false, "also request an evaluation now")
	pos, rest := leadingArgs(args[1:], 2)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 2 {
		fs.Usage()
		return errors.New("want PROJECT NAME")
	}
	switch typ {
	case "legacy":
		jc.Type = 0
	case "flake":
		jc.Type, jc.NixExprPath = 1, ""
	default:
		return fmt.Errorf("--type %q: want legacy or flake", typ)
	}
	for _, s := range ins {
		in, err := parseInput(s)
		if err != nil {
			return err
		}
		jc.Inputs = append(jc.Inputs, in)
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		md := commands.NewMetadata(commands.ComponentActor("cli"), sys.runtime)
		if _, err := sys.handlers.CreateJobset(ctx, md, commands.CreateJobset{Project: pos[0], Name: pos[1], Config: jc}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created jobset %s:%s\n", pos[0], pos[1])
		if reqNow {
			if _, err := sys.handlers.RequestEvaluation(ctx, md, commands.RequestEvaluation{Project: pos[0], Jobset: pos[1], Reason: "cli"}); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "evaluation requested")
		}
		return nil
	})
}

// parseInput parses NAME=TYPE:VALUE.
func parseInput(s string) (events.JobsetInput, error) {
	name, rest, ok := strings.Cut(s, "=")
	typ, value, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || name == "" || typ == "" {
		return events.JobsetInput{}, fmt.Errorf("--input %q: want NAME=TYPE:VALUE", s)
	}
	return events.JobsetInput{Name: name, Type: typ, Value: value}, nil
}

func runProject(ctx context.Context, a *app, args []string) error {
	const usage = "project create NAME --owner USER [--display-name N] [--description D] [--homepage URL]"
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: buildledger " + usage)
	}
	var (
		cfg config
		pc  = events.ProjectConfig{Enabled: true}
	)
	fs := a.newFlagSet("project create", usage)
	cfg.register(fs, false)
	fs.StringVar(&pc.Owner, "owner", "", "owning user (must exist)")
	fs.StringVar(&pc.DisplayName, "display-name", "", "display name (default NAME)")
	fs.StringVar(&pc.Description, "description", "", "description")
	fs.StringVar(&pc.Homepage, "homepage", "", "homepage URL")
	pos, rest := leadingArgs(args[1:], 1)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 1 || pc.Owner == "" {
		fs.Usage()
		return errors.New("want NAME and --owner")
	}
	if pc.DisplayName == "" {
		pc.DisplayName = pos[0]
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		md := commands.NewMetadata(commands.ComponentActor("cli"), sys.runtime)
		if _, err := sys.handlers.CreateProject(ctx, md, commands.CreateProject{Name: pos[0], Config: pc}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created project %s owned by %s\n", pos[0], pc.Owner)
		return nil
	})
}
