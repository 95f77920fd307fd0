package pglog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"buildledger/events"
)

const selectEvents = `select position, stream, revision, id::text, type, version, data::text, metadata::text, recorded_at from ledger.events `

// readStream is ReadStream, tried once.
func (s *Store) readStream(ctx context.Context, stream string, from uint64, limit int) ([]events.Recorded, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.pool.Query(ctx, selectEvents+`where stream = $1 and revision >= $2 order by revision limit $3`, stream, int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	if len(out) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `select exists(select 1 from ledger.streams where stream = $1)`, stream).Scan(&exists); err != nil {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		if !exists {
			return nil, fmt.Errorf("read stream %s: %w", stream, events.ErrStreamNotFound)
		}
	}
	return out, nil
}

// ReadAll implements events.Store: ReadAllFiltered without a filter.
func (s *Store) ReadAll(ctx context.Context, after events.Position, limit int) ([]events.Recorded, error) {
	out, _, err := s.ReadAllFiltered(ctx, after, events.ReadFilter{}, limit)
	return out, err
}

// head is Head, tried once.
func (s *Store) head(ctx context.Context) (events.Position, error) {
	var p int64
	if err := s.pool.QueryRow(ctx, `select position from ledger.counter`).Scan(&p); err != nil {
		return events.Start, fmt.Errorf("read head: %w", err)
	}
	return events.At(uint64(p)), nil
}

func collect(rows pgx.Rows) ([]events.Recorded, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Recorded, error) {
		var (
			rec        events.Recorded
			pos, rev   int64
			version    int32
			data       string
			md         []byte
			recordedAt time.Time
		)
		if err := r.Scan(&pos, &rec.Stream, &rev, &rec.ID, &rec.Type, &version, &data, &md, &recordedAt); err != nil {
			return rec, err
		}
		rec.Position = events.At(uint64(pos))
		rec.Revision = uint64(rev)
		rec.Version = int(version)
		rec.Data = json.RawMessage(data)
		rec.RecordedAt = recordedAt.UTC()
		var err error
		if rec.Metadata, err = events.ParseMetadata(md); err != nil {
			return rec, fmt.Errorf("event %s metadata: %w", rec.ID, err)
		}
		return rec, nil
	})
}

var _ events.ChainReader = (*Store)(nil)

// ReadChain implements events.ChainReader: one COPY of the log in binary
// format, cut into batches of up to chainBatchBytes as it arrives.
func (s *Store) ReadChain(ctx context.Context, until events.Position, fn func([]events.ChainLink) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("read the chain: %w", err)
	}
	defer conn.Release()
	d := &chainDecoder{fn: fn, batchBytes: chainBatchBytes}
	if _, err := conn.Conn().PgConn().CopyTo(ctx, d, chainCopySQL(until)); err != nil {
		return fmt.Errorf("read the chain: %w", err)
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("read the chain: %w", err)
	}
	return nil
}

// chainCopySQL is the COPY statement of ReadChain.
func chainCopySQL(until events.Position) string {
	q := `copy (select position, stream, revision, id, type, version, data::text, metadata::text from ledger.events `
	if !until.IsStart() {
		q += fmt.Sprintf(`where position <= %d `, until.Commit)
	}
	return q + `order by position) to stdout (format binary)`
}

// chainBatchBytes is the batch size of ReadChain, in bytes of COPY data.
const chainBatchBytes = 1 << 20

// chainDecoder decodes the binary COPY of ReadChain as pgconn writes it,
// into batches of events.ChainLink that point into the bytes received.
type chainDecoder struct {
	fn func([]events.ChainLink) error
	// batchBytes is how many bytes a batch holds at most (unless one
	// event is larger).
	batchBytes int
	tuples     *copyTuples
	ids        []byte // the text of the batch's ids
	links      []events.ChainLink
}

// chainSizes are the sizes of the fields of chainCopySQL's tuples:
// position, stream, revision, id, type, version, data, metadata.
var chainSizes = []int{8, -1, 8, 16, -1, 4, -1, -1}

// Write implements io.Writer.
func (d *chainDecoder) Write(p []byte) (int, error) {
	if d.tuples == nil {
		d.tuples = &copyTuples{fields: len(chainSizes), size: d.batchBytes, tuple: d.tuple, full: d.flush}
	}
	return d.tuples.Write(p)
}

// flush hands the batch to fn. Its bytes are never written again.
func (d *chainDecoder) flush() error {
	n := len(d.links)
	if n == 0 {
		return nil
	}
	links := d.links
	d.links = make([]events.ChainLink, 0, n)
	d.ids = make([]byte, 0, cap(d.ids))
	return d.fn(links)
}

// finish hands over the last batch once the whole stream has arrived.
func (d *chainDecoder) finish() error {
	if d.tuples == nil {
		return errors.New("the COPY stream ended without its trailer")
	}
	if err := d.tuples.finish(); err != nil {
		return err
	}
	return d.flush()
}

func (d *chainDecoder) tuple(f [][]byte) error {
	if err := checkSizes(f, chainSizes); err != nil {
		return err
	}
	start := len(d.ids)
	d.ids = events.AppendUUID(d.ids, [16]byte(f[3]))
	d.links = append(d.links, events.ChainLink{
		Position: events.At(binary.BigEndian.Uint64(f[0])),
		Stream:   f[1],
		Revision: binary.BigEndian.Uint64(f[2]),
		ID:       d.ids[start:len(d.ids):len(d.ids)],
		Type:     f[4],
		Version:  int(int32(binary.BigEndian.Uint32(f[5]))),
		Data:     f[6],
		Metadata: f[7],
	})
	return nil
}
