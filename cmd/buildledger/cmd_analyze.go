package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"buildledger/commands/reactors/scheduler/whatif"
	"buildledger/events"
)

const analyzeUsage = "analyze scheduling --from T1 --to T2 --policy fifo|hydra|shares|critical-path [flags]"

// analyzeTypes are the events the scheduling replay folds.
var analyzeTypes = map[string]bool{"MachineRegistered": true, "MachineUpdated": true, "JobsetCreated": true,
	"BuildQueued": true, "StepQueued": true, "StepDispatched": true, "StepFinished": true}

// runAnalyze replays the steps queued between --from and --to through
// the scheduler's machine slots under another policy, and prints the
// queue waits per jobset and the makespan, recorded and replayed.
func runAnalyze(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "scheduling" {
		return errors.New("usage: buildledger " + analyzeUsage)
	}
	var (
		cfg              config
		from, to, policy string
	)
	fs := a.newFlagSet("analyze scheduling", analyzeUsage)
	cfg.register(fs, false)
	fs.StringVar(&from, "from", "", "start of the window, RFC 3339 (steps queued from then)")
	fs.StringVar(&to, "to", "", "end of the window, RFC 3339 (steps queued until then)")
	fs.StringVar(&policy, "policy", "", "the policy to compare with: fifo, hydra, shares or critical-path")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	t1, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return fmt.Errorf("--from %q: want an RFC 3339 time such as 2026-11-25T12:00:00Z", from)
	}
	t2, err := time.Parse(time.RFC3339, to)
	if err != nil {
		return fmt.Errorf("--to %q: want an RFC 3339 time such as 2026-11-25T18:00:00Z", to)
	}
	if !t2.After(t1) {
		return fmt.Errorf("--to %s is not after --from %s", to, from)
	}
	p, err := whatif.ParsePolicy(policy)
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		rec := whatif.NewRecorder(t1, t2)
		err := eachEvent(ctx, sys.store, func(r events.Recorded) (bool, error) {
			if !analyzeTypes[r.Type] {
				return true, nil
			}
			pl, err := sys.codec.Decode(r)
			if err != nil {
				return false, fmt.Errorf("event %s at %v: %w", r.ID, r.Position, err)
			}
			rec.Add(pl, r.RecordedAt)
			return true, nil
		})
		if err != nil {
			return err
		}
		recording := rec.Recording()
		if len(recording.Steps) == 0 {
			return fmt.Errorf("no step was queued and built between %s and %s", from, to)
		}
		printWhatIf(a.stdout, recording, whatif.Recorded(recording), whatif.Replay(recording, p), p)
		return nil
	})
}

// printWhatIf prints the recorded and replayed waits side by side.
func printWhatIf(w io.Writer, rec whatif.Recording, got, alt whatif.Waits, p whatif.Policy) {
	machines := map[string]bool{}
	for _, s := range rec.Steps {
		machines[s.Machine] = true
	}
	fmt.Fprintf(w, "%d steps queued from %s to %s on %d machines; queue wait in seconds (p50 / p95 / p99)\n",
		len(rec.Steps), rec.From.Format(time.RFC3339), rec.To.Format(time.RFC3339), len(machines))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "jobset\tsteps\trecorded\t%s\n", p)
	names := make([]string, 0, len(got.PerJobset))
	for j := range got.PerJobset {
		names = append(names, j)
	}
	sort.Strings(names)
	pct := func(xs []int64) string {
		return fmt.Sprintf("%d / %d / %d", whatif.Percentile(xs, 50), whatif.Percentile(xs, 95), whatif.Percentile(xs, 99))
	}
	for _, j := range names {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", j, len(got.PerJobset[j]), pct(got.PerJobset[j]), pct(alt.PerJobset[j]))
	}
	fmt.Fprintf(tw, "makespan (s)\t\t%d\t%d\n", got.Makespan, alt.Makespan)
	tw.Flush()
}
