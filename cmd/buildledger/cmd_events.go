package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"buildledger/domain/redact"
	"buildledger/events"
)

func runEvents(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] == "copy" {
		return runEventsCopy(ctx, a, args[1:])
	}
	if len(args) > 0 && args[0] == "export" {
		return runEventsExport(ctx, a, args[1:])
	}
	if len(args) == 0 || args[0] != "tail" {
		return errors.New("usage: buildledger events tail [--stream PREFIX]... [--type TYPE]... [--from POSITION] [--follow] [--json]\n       buildledger events copy --from STORE --to STORE\n       buildledger events export --format jsonl|parquet [--from P] [--to P] [--stream PREFIX] [--out FILE]")
	}
	var (
		cfg            config
		prefixes, typs stringList
		from           uint64
		follow, asJSON bool
		limit          int
	)
	fs := a.newFlagSet("events tail", "events tail [flags]")
	cfg.register(fs, false)
	fs.Var(&prefixes, "stream", "only streams starting with this prefix (e.g. build-42, jobset-); repeatable")
	fs.Var(&typs, "type", "only this event type (e.g. BuildFinished); repeatable")
	fs.Uint64Var(&from, "from", 0, "start after this log position")
	fs.BoolVar(&follow, "follow", false, "keep printing new events as they are appended")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per event")
	fs.IntVar(&limit, "n", 0, "without --from: print only the last N matching events (0: all)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		filter := events.Filter{StreamPrefixes: prefixes, Types: typs}
		pr := func(r events.Recorded) error { return printEvent(a.stdout, r, asJSON) }
		var matched []events.Recorded
		cursor := events.At(from)
		for {
			batch, err := sys.store.ReadAll(ctx, cursor, 5000)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			for _, r := range batch {
				if !filter.Match(r) {
					continue
				}
				if limit > 0 {
					matched = append(matched, r)
					if len(matched) > limit {
						matched = matched[1:]
					}
					continue
				}
				if err := pr(r); err != nil {
					return err
				}
			}
			cursor = batch[len(batch)-1].Position
		}
		for _, r := range matched {
			if err := pr(r); err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		sub, err := sys.store.SubscribeAll(ctx, cursor, filter)
		if err != nil {
			return err
		}
		defer sub.Close()
		for r := range sub.Events() {
			if err := pr(r); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		return sub.Err()
	})
}

// printEvent prints r with its data redacted (domain/redact).
func printEvent(w io.Writer, r events.Recorded, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(struct {
			Position   uint64          `json:"position"`
			ID         string          `json:"id"`
			Stream     string          `json:"stream"`
			Revision   uint64          `json:"revision"`
			Type       string          `json:"type"`
			Version    int             `json:"version"`
			RecordedAt time.Time       `json:"recordedAt"`
			Data       json.RawMessage `json:"data"`
			Metadata   events.Metadata `json:"metadata"`
		}{r.Position.Commit, r.ID, r.Stream, r.Revision, r.Type, r.Version, r.RecordedAt, redact.JSON(r.Data), r.Metadata})
	}
	_, err := fmt.Fprintf(w, "%8d  %s  %-28s %-22s %-20s %s\n", r.Position.Commit, r.RecordedAt.Format(time.RFC3339),
		fmt.Sprintf("%s@%d", r.Stream, r.Revision), r.Type, r.Metadata.Actor, redact.JSON(r.Data))
	return err
}
