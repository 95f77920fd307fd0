package logstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Follow returns the decompressed log at location from its beginning.
// While the log is being written, reads wait for more bytes instead of
// ending; the reader ends with io.EOF once the writer has closed the log
// and everything was read. When ctx ends, reads fail with its error.
func (s *Store) Follow(ctx context.Context, location string) (io.ReadCloser, error) {
	name, err := s.file(location)
	if err != nil {
		return nil, err
	}
	if f, err := os.Open(name); err == nil {
		return newDecoder(f, f)
	}
	f, err := os.Open(name + partSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		// Closed between the two opens.
		if f, err2 := os.Open(name); err2 == nil {
			return newDecoder(f, f)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("follow log %s: %w", location, err)
	}
	t := &tail{ctx: ctx, f: f, part: name + partSuffix, poll: s.opts.PollInterval}
	return newDecoder(t, f)
}

// tail reads a growing file: at its end it waits until more bytes arrive
// or the file is renamed away from its ".part" name (the log is complete).
type tail struct {
	ctx  context.Context
	f    *os.File
	part string
	poll time.Duration
	done bool
}

// Read implements io.Reader.
func (t *tail) Read(p []byte) (int, error) {
	for {
		n, err := t.f.Read(p)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		if t.done {
			return 0, io.EOF
		}
		if _, err := os.Stat(t.part); errors.Is(err, fs.ErrNotExist) {
			// The writer renamed the file after its last write: one
			// more read gets the rest.
			t.done = true
			continue
		}
		select {
		case <-t.ctx.Done():
			return 0, context.Cause(t.ctx)
		case <-time.After(t.poll):
		}
	}
}
