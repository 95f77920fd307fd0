package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"buildledger/domain/redact"
	"buildledger/events"
)

// runEventsExport writes a range of the log for external tools: JSON
// lines (one envelope per line, data inline) or Parquet (one row per
// event, data as a JSON column; github.com/parquet-go/parquet-go).
func runEventsExport(ctx context.Context, a *app, args []string) error {
	var (
		cfg            config
		format, out    string
		from, to       uint64
		prefixes, typs stringList
	)
	fs := a.newFlagSet("events export", "events export --format jsonl|parquet [--from P] [--to P] [--stream PREFIX]... [--out FILE]")
	cfg.register(fs, false)
	fs.StringVar(&format, "format", "jsonl", "jsonl or parquet")
	fs.Uint64Var(&from, "from", 0, "export events after this log position")
	fs.Uint64Var(&to, "to", 0, "export events up to and including this log position (0: the head)")
	fs.Var(&prefixes, "stream", "only streams starting with this prefix; repeatable")
	fs.Var(&typs, "type", "only this event type; repeatable")
	fs.StringVar(&out, "out", "", "write here (default: standard output; parquet needs a file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if format != "jsonl" && format != "parquet" {
		return fmt.Errorf("--format %q: want jsonl or parquet", format)
	}
	if format == "parquet" && out == "" {
		return errors.New("--format parquet needs --out FILE")
	}
	var w io.Writer = a.stdout
	var f *os.File
	if out != "" {
		var err error
		// 0600: an export holds the history of every project, actors
		// and token names included, which only the server's owner reads.
		if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return fmt.Errorf("create %s: %w", out, err)
		}
		defer f.Close()
		// A file that existed keeps its mode through OpenFile.
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", out, err)
		}
		w = f
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		var sink exportSink
		if format == "parquet" {
			sink = newParquetSink(w)
		} else {
			sink = newJSONLSink(w)
		}
		n, err := exportEvents(ctx, sys.store, events.At(from), to, events.Filter{StreamPrefixes: prefixes, Types: typs}, sink)
		if err != nil {
			return err
		}
		if f != nil {
			if err := f.Close(); err != nil {
				return fmt.Errorf("close %s: %w", out, err)
			}
			fmt.Fprintf(a.stderr, "exported %d events to %s\n", n, out)
		}
		return nil
	})
}

// exportSink receives exported events in log order.
type exportSink interface {
	write(rows []redact.ExportRow) error
	close() error
}

func exportEvents(ctx context.Context, store events.Store, after events.Position, to uint64, filter events.Filter, sink exportSink) (int, error) {
	total := 0
	for {
		batch, err := store.ReadAll(ctx, after, 5000)
		if err != nil {
			return total, err
		}
		var (
			rows []redact.ExportRow
			done = len(batch) == 0
		)
		for _, r := range batch {
			if to > 0 && r.Position.Commit > to {
				done = true
				break
			}
			if filter.Match(r) {
				rows = append(rows, redact.Export(r))
			}
		}
		if len(rows) > 0 {
			if err := sink.write(rows); err != nil {
				return total, err
			}
			total += len(rows)
		}
		if done {
			return total, sink.close()
		}
		after = batch[len(batch)-1].Position
	}
}

type jsonlSink struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func newJSONLSink(w io.Writer) *jsonlSink {
	bw := bufio.NewWriterSize(w, 1<<16)
	return &jsonlSink{w: bw, enc: json.NewEncoder(bw)}
}

func (s *jsonlSink) write(rows []redact.ExportRow) error {
	for i := range rows {
		if err := s.enc.Encode(rows[i]); err != nil {
			return fmt.Errorf("write event %s: %w", rows[i].ID, err)
		}
	}
	return nil
}

func (s *jsonlSink) close() error { return s.w.Flush() }

type parquetSink struct {
	w *parquet.GenericWriter[redact.ExportRow]
}

func newParquetSink(w io.Writer) *parquetSink {
	return &parquetSink{w: parquet.NewGenericWriter[redact.ExportRow](w, parquet.CreatedBy("buildledger", "", ""))}
}

func (s *parquetSink) write(rows []redact.ExportRow) error {
	if _, err := s.w.Write(rows); err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return nil
}

func (s *parquetSink) close() error {
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("finish parquet file: %w", err)
	}
	return nil
}
