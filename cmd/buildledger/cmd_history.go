package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"buildledger/domain/redact"
	"buildledger/events"
)

const historyUsage = `usage: buildledger history build ID [--json]
       buildledger history jobset PROJECT:JOBSET [--json]`

// runHistory prints every event about a build or a jobset, in log order,
// with who caused it.
func runHistory(ctx context.Context, a *app, args []string) error {
	if len(args) < 2 || (args[0] != "build" && args[0] != "jobset") {
		return errors.New(historyUsage)
	}
	kind, subject := args[0], args[1]
	var (
		cfg    config
		asJSON bool
	)
	fs := a.newFlagSet("history "+kind, "history "+kind+" "+strings.ToUpper(kind)+" [--json] [flags]")
	cfg.register(fs, false)
	fs.BoolVar(&asJSON, "json", false, "print a JSON array of events")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	var match func(events.Recorded) bool
	switch kind {
	case "build":
		id, err := strconv.ParseInt(subject, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("build id %q: want a positive number", subject)
		}
		match = buildMatcher(id)
	case "jobset":
		project, jobset, ok := strings.Cut(subject, ":")
		if !ok || project == "" || jobset == "" {
			return fmt.Errorf("jobset %q: want PROJECT:JOBSET", subject)
		}
		match = jobsetMatcher(project, jobset)
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		var found []events.Recorded
		err := eachEvent(ctx, sys.store, func(r events.Recorded) (bool, error) {
			if match(r) {
				found = append(found, r)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("no events about %s %s", kind, subject)
		}
		return printHistory(a.stdout, found, asJSON)
	})
}

// refs are the fields of an event's data that tie it to a build or jobset.
type refs struct {
	BuildID *int64 `json:"buildId"`
	EvalID  *int64 `json:"evalId"`
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
}

func refsOf(r events.Recorded) refs {
	var x refs
	_ = json.Unmarshal(r.Data, &x) // events without these fields simply do not match
	return x
}

// buildMatcher matches the build's stream and every event whose data names
// the build (its steps, outputs, products, metrics).
func buildMatcher(id int64) func(events.Recorded) bool {
	stream := fmt.Sprintf("build-%d", id)
	return func(r events.Recorded) bool {
		if r.Stream == stream {
			return true
		}
		x := refsOf(r)
		return x.BuildID != nil && *x.BuildID == id
	}
}

// jobsetMatcher matches the jobset's stream, events naming the project and
// jobset, and events of the jobset's evaluations (known from their
// EvaluationStarted, which comes first in the log).
func jobsetMatcher(project, jobset string) func(events.Recorded) bool {
	stream := "jobset-" + project + "." + jobset
	evals := map[int64]bool{}
	return func(r events.Recorded) bool {
		if r.Stream == stream {
			return true
		}
		x := refsOf(r)
		if x.Project == project && x.Jobset == jobset {
			if x.EvalID != nil {
				evals[*x.EvalID] = true
			}
			return true
		}
		return x.EvalID != nil && evals[*x.EvalID]
	}
}

// historyEntry is one event as history prints it in JSON.
type historyEntry struct {
	Position    uint64          `json:"position"`
	RecordedAt  time.Time       `json:"recordedAt"`
	Stream      string          `json:"stream"`
	Revision    uint64          `json:"revision"`
	Type        string          `json:"type"`
	Version     int             `json:"version"`
	ID          string          `json:"id"`
	Actor       string          `json:"actor"`
	Correlation string          `json:"correlationId,omitempty"`
	Data        json.RawMessage `json:"data"`
}

// printHistory prints recs with their data redacted (domain/redact).
func printHistory(w io.Writer, recs []events.Recorded, asJSON bool) error {
	if asJSON {
		out := make([]historyEntry, len(recs))
		for i, r := range recs {
			out[i] = historyEntry{r.Position.Commit, r.RecordedAt, r.Stream, r.Revision, r.Type, r.Version, r.ID,
				r.Metadata.Actor, r.Metadata.CorrelationID, redact.JSON(r.Data)}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, r := range recs {
		actor := r.Metadata.Actor
		if actor == "" {
			actor = "-"
		}
		if _, err := fmt.Fprintf(w, "%8d  %s  %-24s %-20s %-22s %s\n", r.Position.Commit, r.RecordedAt.Format(time.RFC3339),
			fmt.Sprintf("%s@%d", r.Stream, r.Revision), r.Type, actor, redact.JSON(r.Data)); err != nil {
			return err
		}
	}
	return nil
}

// eachEvent calls f with every event of the log in order, read in
// batches, until f says to stop or fails.
func eachEvent(ctx context.Context, store events.Store, f func(events.Recorded) (more bool, err error)) error {
	for after := events.Start; ; {
		batch, err := store.ReadAll(ctx, after, 5000)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, r := range batch {
			if more, err := f(r); err != nil || !more {
				return err
			}
		}
		after = batch[len(batch)-1].Position
	}
}
