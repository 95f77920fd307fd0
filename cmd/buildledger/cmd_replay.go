package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"buildledger/adapters/postgres"
	"buildledger/events"
	"buildledger/projections"
)

func runReplay(ctx context.Context, a *app, args []string) error {
	var (
		cfg    config
		until  string
		target string
		only   string
	)
	fs := a.newFlagSet("replay", "replay [--until TIME|POSITION] [--into SCHEMA] [--projection NAME] [flags]")
	cfg.register(fs, false)
	cfg.registerAnalyst(fs)
	fs.StringVar(&until, "until", "", "build the read models as they were at this RFC 3339 time or log position, into --into, leaving the live ones alone")
	fs.StringVar(&target, "into", "", "schema to build (default replay_<time>; with --until, asof_<time>)")
	fs.StringVar(&only, "projection", "", "replay only this projection (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if only != "" && until == "" && target == "" {
		// A blue/green projection is rebuilt in place beside the others.
		if handled, err := replayOne(ctx, a, cfg, only, ""); handled {
			return err
		}
	}
	if _, err := pickProjections(readModels(nil), only); err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		ps, err := pickProjections(readModels(sys.vault), only)
		if err != nil {
			return err
		}

		var untilPos events.Position
		if until != "" {
			if untilPos, err = resolveUntil(ctx, sys, until); err != nil {
				return err
			}
			if untilPos.IsStart() {
				return fmt.Errorf("--until %s: the log has no event at or before that point", until)
			}
		}
		stamp := time.Now().UTC().Format("20060102_150405")
		if target == "" {
			target = "replay_" + stamp
			if until != "" {
				target = "asof_" + stamp
			}
		}
		head, err := sys.store.Head(ctx)
		if err != nil {
			return err
		}
		end := head
		if !untilPos.IsStart() && untilPos.Less(head) {
			end = untilPos
		}
		bar := newProgress(a.stderr, end.Commit)
		res, err := projections.Replay(ctx, sys.store, sys.codec, postgres.NewSchemas(sys.pool), ps, projections.ReplayOptions{
			Target:  target,
			Until:   untilPos,
			OnBatch: func(p projections.Progress) { bar.update(p.Position.Commit, p.Applied) },
		})
		bar.done()
		if err != nil {
			return err
		}
		if res.Swapped {
			fmt.Fprintf(a.stdout, "replayed %d events into %s and swapped it in; the previous read models are kept in schema %s\n", res.Applied, res.Target, res.Backup)
		} else {
			fmt.Fprintf(a.stdout, "replayed %d events (up to position %d) into schema %s; the live read models are unchanged\n", res.Applied, res.Position.Commit, res.Target)
		}
		return nil
	})
}

// resolveUntil turns --until into a log position: a number is a position,
// anything else must be an RFC 3339 time, meaning the last event recorded
// at or before it.
// pickProjections returns the projection of ps named only, or all of ps
// when only is empty.
func pickProjections(ps []projections.Projection, only string) ([]projections.Projection, error) {
	if only == "" {
		return ps, nil
	}
	var names []string
	for _, p := range ps {
		if p.Name() == only {
			return []projections.Projection{p}, nil
		}
		names = append(names, p.Name())
	}
	return nil, fmt.Errorf("--projection %q: unknown; known: %s", only, strings.Join(names, ", "))
}

func resolveUntil(ctx context.Context, sys *system, until string) (events.Position, error) {
	if n, err := strconv.ParseUint(until, 10, 64); err == nil {
		return events.At(n), nil
	}
	t, err := time.Parse(time.RFC3339, until)
	if err != nil {
		return events.Start, fmt.Errorf("--until %q: want a log position or an RFC 3339 time such as 2026-11-25T12:00:00Z", until)
	}
	var pos events.Position
	err = eachEvent(ctx, sys.store, func(r events.Recorded) (bool, error) {
		if r.RecordedAt.After(t) {
			return false, nil
		}
		pos = r.Position
		return true, nil
	})
	if err != nil {
		return events.Start, err
	}
	return pos, nil
}

// progress prints replay progress: a bar redrawn in place on a terminal,
// a line every few seconds otherwise.
type progress struct {
	w        io.Writer
	total    uint64
	terminal bool
	start    time.Time
	last     time.Time
	drawn    bool
}

func newProgress(w io.Writer, total uint64) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) update(pos uint64, applied int64) {
	now := time.Now()
	rate := float64(applied) / max(now.Sub(p.start).Seconds(), 1e-3)
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(pos)/float64(p.total), 1)
	}
	if p.terminal {
		const width = 30
		filled := int(frac * width)
		fmt.Fprintf(p.w, "\r[%s%s] %5.1f%%  %d events  %.0f events/s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, applied, rate)
		p.drawn = true
		return
	}
	if now.Sub(p.last) >= 2*time.Second {
		fmt.Fprintf(p.w, "replay: %.1f%% (position %d of %d), %d events, %.0f events/s\n", frac*100, pos, p.total, applied, rate)
		p.last = now
	}
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
