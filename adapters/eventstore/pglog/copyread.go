package pglog

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"buildledger/events"
)

// copySignature starts a binary COPY stream.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyTuples decodes a binary COPY stream as pgconn writes it (in pieces,
// reusing the bytes of each) into tuples of fields non-null fields. The
// fields handed to tuple point into a buffer that is never written again,
// so they may be kept.
type copyTuples struct {
	fields int
	tuple  func(f [][]byte) error
	// size is the size a buffer grows to: the first is minBuffer (or
	// size, if smaller), each next one twice the last, and a larger one is
	// made for a larger tuple. full, if set, is called before a new buffer
	// replaces one that holds decoded tuples.
	size int
	full func() error

	buf    []byte // from the first byte of a decoded tuple on
	off    int    // where the bytes not decoded yet begin
	f      [][]byte
	header bool // the header has been read
	ended  bool // the trailer has been read
}

// minBuffer is the size of copyTuples' first buffer: most reads of a live
// runner or subscription return a few events, and a buffer of the largest
// size made and cleared for each of them was most of the memory the
// ledger's readers cleared while an evaluation was recorded. 64 kB was
// still an eighth of what `up` allocated in a 3,000-job run; a few
// events take a few kB.
const minBuffer = 8 << 10

// Write implements io.Writer.
func (d *copyTuples) Write(p []byte) (int, error) {
	if d.ended {
		return 0, errors.New("data after the COPY trailer")
	}
	if len(d.buf)+len(p) > cap(d.buf) {
		if d.off > 0 && d.full != nil {
			if err := d.full(); err != nil {
				return 0, err
			}
		}
		rest := d.buf[d.off:]
		size := min(d.size, max(minBuffer, 2*cap(d.buf)))
		d.buf = append(make([]byte, 0, max(size, len(rest)+len(p))), rest...)
		d.off = 0
	}
	d.buf = append(d.buf, p...)
	for !d.ended {
		n, err := d.next(d.buf[d.off:])
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		d.off += n
	}
	if d.ended && d.off < len(d.buf) {
		return 0, errors.New("data after the COPY trailer")
	}
	return len(p), nil
}

// finish checks that the whole stream has arrived.
func (d *copyTuples) finish() error {
	if !d.ended {
		return errors.New("the COPY stream ended without its trailer")
	}
	return nil
}

// next decodes the header, a tuple or the trailer at the start of b, and
// returns how many bytes it took: 0 when b does not hold all of it yet.
func (d *copyTuples) next(b []byte) (int, error) {
	if !d.header {
		const fixed = 11 + 4 + 4 // signature, flags, header extension length
		if len(b) < fixed {
			return 0, nil
		}
		if !bytes.Equal(b[:11], copySignature) {
			return 0, errors.New("not a binary COPY stream")
		}
		n := fixed + int(binary.BigEndian.Uint32(b[15:19]))
		if len(b) < n {
			return 0, nil
		}
		d.header = true
		return n, nil
	}
	if len(b) < 2 {
		return 0, nil
	}
	switch fields := int(int16(binary.BigEndian.Uint16(b))); fields {
	case -1:
		d.ended = true
		return 2, nil
	case d.fields:
	default:
		return 0, fmt.Errorf("a COPY tuple of %d fields, want %d", fields, d.fields)
	}
	if d.f == nil {
		d.f = make([][]byte, d.fields)
	}
	i := 2
	for k := range d.f {
		if len(b) < i+4 {
			return 0, nil
		}
		n := int32(binary.BigEndian.Uint32(b[i:]))
		i += 4
		if n < 0 {
			return 0, fmt.Errorf("a COPY tuple with a null in field %d", k+1)
		}
		if len(b) < i+int(n) {
			return 0, nil
		}
		d.f[k] = b[i : i+int(n) : i+int(n)]
		i += int(n)
	}
	return i, d.tuple(d.f)
}

// checkSizes requires the fields of a tuple whose size is fixed (not
// negative in sizes) to have that many bytes.
func checkSizes(f [][]byte, sizes []int) error {
	for k, size := range sizes {
		if size >= 0 && len(f[k]) != size {
			return fmt.Errorf("a COPY tuple whose field %d has %d bytes, want %d", k+1, len(f[k]), size)
		}
	}
	return nil
}

// recordsCopySQL is a binary COPY of the events whose positions are after
// after and (when end is not 0) at most end, that pass f, at most limit of
// them: the form of read most rows go through, as a COPY sends them in
// binary and costs the server and the client less than a query. The
// numbers are formatted and the types quoted here, as COPY takes no
// parameters. Without metadata the column is sent empty.
func recordsCopySQL(after uint64, f events.ReadFilter, end uint64, limit int) string {
	metadata := "metadata::text"
	if f.NoMetadata {
		metadata = "''::text"
	}
	q := fmt.Sprintf(`copy (select position, stream, revision, id, type, version, data::text, %s, recorded_at
		from ledger.events where position > %d`, metadata, after)
	if end > 0 {
		q += fmt.Sprintf(` and position <= %d`, end)
	}
	if len(f.Types) > 0 {
		var b bytes.Buffer
		for i, t := range f.Types {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteLiteral(t))
		}
		q += ` and type in (` + b.String() + `)`
	}
	return q + fmt.Sprintf(` order by position limit %d) to stdout (format binary)`, limit)
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + string(bytes.ReplaceAll([]byte(s), []byte("'"), []byte("''"))) + "'"
}

// recordSizes are the sizes of the fields of recordsCopySQL's tuples:
// position, stream, revision, id, type, version, data, metadata,
// recorded_at.
var recordSizes = []int{8, -1, 8, 16, -1, 4, -1, -1, 8}

// postgresEpoch is the zero of a binary timestamptz.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// firstRecords is the room readRecords makes for records at first. Most
// reads of a live runner or subscription return a few events: room for
// 1,024 (272 kB) made for each was 56% of what `up` allocated in a
// 3,000-job run, 34 GB in ten minutes. A read of a replay returns its
// limit, and the room grows fourfold at a time towards it, so that few
// records are copied (a Recorded is large, and growing by half made the
// copies a fifth of a replay's CPU).
const firstRecords = 16

// readRecords runs a COPY of recordsCopySQL and decodes its events, of
// which there are at most limit, with their metadata if metadata is set.
func (s *Store) readRecords(ctx context.Context, sql string, limit int, metadata bool) ([]events.Recorded, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	var (
		out   = make([]events.Recorded, 0, min(limit, firstRecords))
		types = map[string]string{} // one string per type
	)
	d := &copyTuples{fields: len(recordSizes), size: 1 << 20, tuple: func(f [][]byte) error {
		if err := checkSizes(f, recordSizes); err != nil {
			return err
		}
		typ, ok := types[string(f[4])]
		if !ok {
			typ = string(f[4])
			types[typ] = typ
		}
		rec := events.Recorded{
			ID:         string(events.AppendUUID(make([]byte, 0, 36), [16]byte(f[3]))),
			Type:       typ,
			Version:    int(int32(binary.BigEndian.Uint32(f[5]))),
			Stream:     string(f[1]),
			Revision:   binary.BigEndian.Uint64(f[2]),
			Position:   events.At(binary.BigEndian.Uint64(f[0])),
			RecordedAt: postgresEpoch.Add(time.Duration(int64(binary.BigEndian.Uint64(f[8]))) * time.Microsecond),
			Data:       json.RawMessage(f[6]),
		}
		if metadata {
			var err error
			if rec.Metadata, err = events.ParseMetadata(f[7]); err != nil {
				return fmt.Errorf("event %s metadata: %w", rec.ID, err)
			}
		}
		if len(out) == cap(out) {
			out = slices.Grow(out, min(limit, 4*cap(out))-len(out))
		}
		out = append(out, rec)
		return nil
	}}
	if _, err := conn.Conn().PgConn().CopyTo(ctx, d, sql); err != nil {
		return nil, err
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return out, nil
}
