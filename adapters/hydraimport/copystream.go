package hydraimport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// colTypes are the types a streamed column may be cast to, with their
// OIDs: a binary COPY sends no row description, so each column names its
// type ("expression::type") and is decoded as that.
var colTypes = map[string]uint32{
	"int4": pgtype.Int4OID, "int8": pgtype.Int8OID, "text": pgtype.TextOID, "float8": pgtype.Float8OID,
	"bool": pgtype.BoolOID, "int4[]": pgtype.Int4ArrayOID, "text[]": pgtype.TextArrayOID,
}

// copySignature starts a binary COPY stream.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyStream is a binary COPY of one query, run on a connection of its
// own and read a row at a time, so that several tables can be read side
// by side and merged in one pass.
type copyStream struct {
	copyRows
	pr   *io.PipeReader
	done chan error
	conn *pgx.Conn
}

// copyRows decodes a binary COPY stream, a row at a time.
type copyRows struct {
	name   string
	oids   []uint32
	types  *pgtype.Map
	r      *bufio.Reader
	fields [][]byte
	ended  bool
	// end returns the COPY's own outcome once its trailer was read.
	end func() error
}

func newCopyRows(name string, oids []uint32, r io.Reader, end func() error) copyRows {
	return copyRows{name: name, oids: oids, types: pgtype.NewMap(), r: bufio.NewReaderSize(r, 256<<10),
		fields: make([][]byte, len(oids)), end: end}
}

// openCopy starts a binary COPY of cols (each "expression::type") from
// the rest of a query (from ... order by ...), on a new connection made
// with cfg.
func openCopy(ctx context.Context, cfg *pgx.ConnConfig, name string, cols []string, rest string) (*copyStream, error) {
	var oids []uint32
	for _, c := range cols {
		i := strings.LastIndex(c, "::")
		oid, ok := colTypes[c[i+2:]]
		if i < 0 || !ok {
			return nil, fmt.Errorf("%s: column %q names no known type", name, c)
		}
		oids = append(oids, oid)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", name, err)
	}
	pr, pw := io.Pipe()
	s := &copyStream{pr: pr, done: make(chan error, 1), conn: conn}
	s.copyRows = newCopyRows(name, oids, pr, func() error { return <-s.done })
	sql := "copy (select " + strings.Join(cols, ", ") + " " + rest + ") to stdout (format binary)"
	go func() {
		_, err := conn.PgConn().CopyTo(ctx, pw, sql)
		pw.CloseWithError(err)
		s.done <- err
	}()
	if err := s.header(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *copyRows) header() error {
	var h [19]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return fmt.Errorf("%s: %w", s.name, s.failure(err))
	}
	if !bytes.Equal(h[:11], copySignature) {
		return fmt.Errorf("%s: not a binary COPY stream", s.name)
	}
	if _, err := s.r.Discard(int(binary.BigEndian.Uint32(h[15:]))); err != nil {
		return fmt.Errorf("%s: %w", s.name, s.failure(err))
	}
	return nil
}

// failure is the error behind a read that failed: the COPY's own when
// it ended early.
func (s *copyRows) failure(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the COPY stream ended early")
	}
	return err
}

// next reads the next row; false at the end of the stream.
func (s *copyRows) next() (bool, error) {
	if s.ended {
		return false, nil
	}
	var n [4]byte
	if _, err := io.ReadFull(s.r, n[:2]); err != nil {
		return false, fmt.Errorf("%s: %w", s.name, s.failure(err))
	}
	switch k := int(int16(binary.BigEndian.Uint16(n[:2]))); k {
	case -1:
		s.ended = true
		if err := s.end(); err != nil {
			return false, fmt.Errorf("%s: %w", s.name, err)
		}
		return false, nil
	case len(s.fields):
	default:
		return false, fmt.Errorf("%s: a row of %d fields, want %d", s.name, k, len(s.fields))
	}
	for i := range s.fields {
		if _, err := io.ReadFull(s.r, n[:]); err != nil {
			return false, fmt.Errorf("%s: %w", s.name, s.failure(err))
		}
		size := int32(binary.BigEndian.Uint32(n[:]))
		if size < 0 {
			s.fields[i] = nil
			continue
		}
		b, err := s.field(int(size))
		if err != nil {
			return false, fmt.Errorf("%s: %w", s.name, s.failure(err))
		}
		s.fields[i] = b
	}
	return true, nil
}

// field reads a field of size bytes. A large one grows as its bytes
// come, rather than being made at the size the stream claims.
func (s *copyRows) field(size int) ([]byte, error) {
	if size <= 64<<10 {
		b := make([]byte, size)
		_, err := io.ReadFull(s.r, b)
		return b, err
	}
	var b bytes.Buffer
	_, err := io.CopyN(&b, s.r, int64(size))
	return b.Bytes(), err
}

// scan decodes the current row into dst, one target per column (a
// pointer target takes NULL).
func (s *copyRows) scan(dst ...any) error {
	for i, d := range dst {
		if err := s.types.Scan(s.oids[i], pgtype.BinaryFormatCode, s.fields[i], d); err != nil {
			return fmt.Errorf("%s: column %d: %w", s.name, i+1, err)
		}
	}
	return nil
}

// close stops the COPY if it still runs and closes its connection.
func (s *copyStream) close() {
	_ = s.pr.CloseWithError(errors.New("stopped"))
	if !s.ended {
		<-s.done
	}
	_ = s.conn.Close(context.Background())
}
