// Command buildledger is a Nix continuous-integration server built as an
// event-sourced ledger. Run "buildledger help" for its commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, app *app, args []string) error
}

// app carries what every command shares: where it writes and its
// configuration.
type app struct {
	stdout, stderr io.Writer
	commands       []command
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(newApp(os.Stdout, os.Stderr).main(ctx, os.Args[1:]))
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr}
	a.commands = []command{
		{"up", "start everything in one process: private Postgres, projector, web on --listen", runUp},
		{"migrate", "create or update the event log and read-model tables", runMigrate},
		{"projector", "run the projections that keep the read models up to date", runProjector},
		{"replay", "rebuild the read models from the log (or as they were --until a time or position)", runReplay},
		{"user", "manage users: user create NAME --role ROLE --password-file FILE; user forget|disable|enable|logout-everywhere NAME; user add-key NAME FILE", runUser},
		{"submit", "submit an ad-hoc build of a derivation and its closure: submit FILE.drv [--url URL] [--token-file FILE]", runSubmit},
		{"audit", "check the tamper-evident log: audit verify [--stream S], audit keygen --key F, audit checkpoint --key F [--origin O], audit prove --checkpoint F --pubkey K | --inclusion E --tiles URL | --consistency OLD NEW --tiles URL, audit witness --log URL", runAudit},
		{"projection", "analyst projections: projection new NAME [--go], projection list; build with replay --projection NAME", runProjection},
		{"analyze", "what-if of the scheduling policy: analyze scheduling --from T1 --to T2 --policy fifo|hydra|shares|critical-path", runAnalyze},
		{"history", "every event about a build or jobset, with actors: history build ID | history jobset P:J [--json]", runHistory},
		{"events", "inspect, export or move the log: events tail [--stream PREFIX] [--type T], events export --format jsonl|parquet, events copy --from A --to B", runEvents},
		{"machine", "manage build machines: machine add URI [flags] | remove NAME | list | sync FILE", runMachine},
		{"queue-runner", "run the scheduler, the command bus and a builder worker (--machines FILE, --bus postgres|gochannel, --cache URL, --builder-listen ADDR)", runQueueRunner},
		{"eval", "evaluate a jobset now and print a summary: eval PROJECT JOBSET [--force]", runEval},
		{"gc-roots", "update the Nix GC roots of the builds to keep once (up does it every 10 minutes)", runGCRoots},
		{"notify", "send commit statuses, mails and webhooks, as Hydra's hydra-notify (--hydra-conf FILE, --smtp-server, --webhooks FILE)", runNotify},
		{"evaluator", "evaluate jobsets when their check interval elapses or on request (--max-concurrent N)", runEvaluator},
		{"jobset", "manage jobsets: jobset create PROJECT NAME --nixexprinput I --input NAME=TYPE:VALUE ...", runJobset},
		{"import", "import another CI's history: import hydra --from postgres://…/hydra (idempotent, resumable)", runImport},
		{"provenance", "check a build's signed SLSA provenance: provenance verify FILE --pubkey K", runProvenance},
		{"project", "manage projects: project create NAME --owner USER", runProject},
		{"server", "the web alone, for split processes: server --database-url URL [--queue-runner-endpoint URL]", runServer},
	}
	sort.Slice(a.commands, func(i, j int) bool { return a.commands[i].name < a.commands[j].name })
	return a
}

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		a.usage(a.stdout)
		return 0
	}
	for _, c := range a.commands {
		if c.name == args[0] {
			err := c.run(ctx, a, args[1:])
			if err == nil || errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintf(a.stderr, "buildledger %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(a.stderr, "buildledger: unknown command %q\n\n", args[0])
	a.usage(a.stderr)
	return 2
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: buildledger COMMAND [flags]\n\ncommands:")
	for _, c := range a.commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'buildledger COMMAND --help' for a command's flags.")
}

// newFlagSet returns a flag set for a subcommand that prints its usage to
// stderr and returns errors instead of exiting.
func (a *app) newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: buildledger %s\n\nflags:\n", strings.TrimSpace(usage))
		fs.PrintDefaults()
	}
	return fs
}
