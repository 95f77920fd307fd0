package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"buildledger/adapters/zstdpool"
)

// logWindow is how far back a log's compressor looks for repeats. Its
// history is twice this, held for as long as the log is written: with
// zstd's default window of 8 MB, 16 MB a running step. A build log's
// repeats are near each other: 1 MB compresses them about as well.
const logWindow = 1 << 20

// Defaults used when the corresponding Options field is zero.
const (
	DefaultMaxSize       = 64 << 20
	DefaultFlushInterval = 500 * time.Millisecond
	DefaultPollInterval  = 200 * time.Millisecond
)

// partSuffix marks a log that is still being written.
const partSuffix = ".part"

// ErrInvalidLocation is returned (wrapped) for a location that does not
// name a log of the store, such as one climbing out of its directory.
var ErrInvalidLocation = errors.New("invalid log location")

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// MaxSize is how many uncompressed bytes of one log are stored; the
	// rest is dropped and the log marked as over its limit. Zero means
	// DefaultMaxSize, negative means no limit.
	MaxSize int64
	// FlushInterval bounds how long written bytes may sit in the
	// compressor before live readers can see them. Zero means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// PollInterval is how often Follow looks for more bytes. Zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// Logger receives write errors; nil means slog.Default().
	Logger *slog.Logger
}

// Store is a directory of step logs. It is safe for concurrent use.
type Store struct {
	dir      string
	opts     Options
	encoders *zstdpool.Pool
}

// New returns a Store keeping logs under dir, which is created if needed.
func New(dir string, opts Options) (*Store, error) {
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("log store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	encoders := zstdpool.New(zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithWindowSize(logWindow), zstd.WithLowerEncoderMem(true))
	return &Store{dir: abs, opts: opts, encoders: encoders}, nil
}

// Dir returns the store's absolute directory.
func (s *Store) Dir() string { return s.dir }

// MaxSize returns how many bytes of one log are stored (negative: no
// limit).
func (s *Store) MaxSize() int64 { return s.opts.MaxSize }

// Location returns the location of the log of attempt of the step that
// builds drvPath, relative to the store's directory, e.g.
// "ab/cdef…-hello.drv-1.log.zst". It is the same before, while and after
// the log is written, so a reader can find a running step's log.
func Location(drvPath string, attempt int) string {
	base := path.Base(drvPath)
	if len(base) < 3 {
		base = "__" + base
	}
	return base[:2] + "/" + base[2:] + "-" + strconv.Itoa(attempt) + ".log.zst"
}

// file returns the file system path of location, refusing locations that
// are absolute or climb out of the store.
func (s *Store) file(location string) (string, error) {
	if location == "" || !fs.ValidPath(location) || strings.Contains(location, "\\") || !strings.HasSuffix(location, ".log.zst") {
		return "", fmt.Errorf("%w: %q", ErrInvalidLocation, location)
	}
	return filepath.Join(s.dir, filepath.FromSlash(location)), nil
}

// Open returns the decompressed content of the log at location as far as
// it has been written: a running step's log ends where its writer last
// flushed. It returns an error wrapping fs.ErrNotExist for an unknown log.
func (s *Store) Open(location string) (io.ReadCloser, error) {
	name, err := s.file(location)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(name + partSuffix)
	}
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", location, err)
	}
	return newDecoder(f, f)
}

// Finished reports whether the log at location is complete (its writer
// was closed). It returns an error wrapping fs.ErrNotExist for an unknown
// log.
func (s *Store) Finished(location string) (bool, error) {
	name, err := s.file(location)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(name); err == nil {
		return true, nil
	}
	if _, err := os.Stat(name + partSuffix); err != nil {
		return false, fmt.Errorf("log %s: %w", location, err)
	}
	return false, nil
}

// decoder is a zstd stream decoder over a file that also closes the file.
// A stream cut short by a running writer ends cleanly with io.EOF.
type decoder struct {
	dec   *zstd.Decoder
	close io.Closer
}

func newDecoder(r io.Reader, c io.Closer) (*decoder, error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &decoder{dec: dec, close: c}, nil
}

// Read reads decompressed bytes. The end of a partly written stream reads
// as io.EOF.
func (d *decoder) Read(p []byte) (int, error) {
	n, err := d.dec.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// Close releases the decoder and closes the file.
func (d *decoder) Close() error {
	d.dec.Close()
	return d.close.Close()
}
