package main

import (
	"context"

	"buildledger/commands/evaluation"
)

func runEvaluator(ctx context.Context, a *app, args []string) error {
	var (
		cfg  config
		ef   evalFlags
		opts evaluation.TriggerOptions
		hc   hydraConfFlag
	)
	fs := a.newFlagSet("evaluator", "evaluator [flags]")
	cfg.register(fs, false)
	cfg.registerPool(fs)
	ef.register(fs)
	hc.register(fs)
	fs.IntVar(&opts.MaxConcurrent, "max-concurrent", evaluation.DefaultMaxConcurrent, "most evaluations running at once")
	fs.DurationVar(&opts.Poll, "poll", evaluation.DefaultPoll, "how often due jobsets are looked for")
	fs.BoolVar(&opts.RecoverAll, "recover-all", false, "at start, close every evaluation left open, not only this host's")
	if err := fs.Parse(args); err != nil {
		return err
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
		opts.Logger = sys.log
		sys.log.Info("evaluator running", "maxConcurrent", opts.MaxConcurrent)
		return evaluation.NewTrigger(svc, opts).Run(ctx)
	})
}
