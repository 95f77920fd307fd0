package logstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Info describes a closed log: what StepLogStored records.
type Info struct {
	// Location is the log's place relative to the store directory.
	Location string
	// Size is the number of uncompressed bytes stored.
	Size int64
	// SHA256 is the hex SHA-256 of the stored uncompressed bytes.
	SHA256 string
	// Received is the number of bytes written to the log, stored or not.
	Received int64
	// OverLimit is true when more bytes were written than the store keeps.
	OverLimit bool
	// CompressedSize is the size of the file on disk.
	CompressedSize int64
}

// Writer writes one step's log. Write never fails, so that a transport
// copying a build's output into it is never blocked or broken by the log
// store; the first write error is reported by Close. A Writer is safe for
// concurrent use.
type Writer struct {
	store    *Store
	location string
	name     string

	mu        sync.Mutex
	f         *os.File
	enc       *zstd.Encoder
	sum       hash.Hash
	size      int64
	received  int64
	dirty     bool
	err       error
	closed    bool
	info      Info
	stopFlush chan struct{}
	flushDone chan struct{}
}

// Create starts the log of attempt of the step building drvPath. An
// existing log of the same attempt (from an earlier, interrupted run) is
// replaced.
func (s *Store) Create(drvPath string, attempt int) (*Writer, error) {
	location := Location(drvPath, attempt)
	name, err := s.file(location)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("create log %s: %w", location, err)
	}
	_ = os.Remove(name)
	f, err := os.OpenFile(name+partSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create log %s: %w", location, err)
	}
	enc, err := s.encoders.Get(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create log %s: %w", location, err)
	}
	w := &Writer{store: s, location: location, name: name, f: f, enc: enc, sum: sha256.New(),
		stopFlush: make(chan struct{}), flushDone: make(chan struct{})}
	go w.flushLoop(s.opts.FlushInterval)
	return w, nil
}

// Location returns the log's location relative to the store directory.
func (w *Writer) Location() string { return w.location }

// Write stores p, or the part of it that fits under the store's limit.
// It always reports len(p) bytes written and a nil error.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	w.received += int64(n)
	if w.closed || w.err != nil {
		return n, nil
	}
	if max := w.store.opts.MaxSize; max >= 0 && w.size+int64(len(p)) > max {
		p = p[:max-w.size]
	}
	if len(p) == 0 {
		return n, nil
	}
	if _, err := w.enc.Write(p); err != nil {
		w.fail(fmt.Errorf("write log %s: %w", w.location, err))
		return n, nil
	}
	w.sum.Write(p)
	w.size += int64(len(p))
	w.dirty = true
	return n, nil
}

// OverLimit reports whether more bytes were written than the store keeps.
func (w *Writer) OverLimit() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.overLimit()
}

func (w *Writer) overLimit() bool {
	max := w.store.opts.MaxSize
	return max >= 0 && w.received > max
}

// fail records the first error; later writes are dropped.
func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
		w.store.opts.Logger.Error("build log write failed", "location", w.location, "err", err)
	}
}

// flushLoop makes written bytes visible to readers every interval.
func (w *Writer) flushLoop(interval time.Duration) {
	defer close(w.flushDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stopFlush:
			return
		case <-t.C:
			w.Flush()
		}
	}
}

// Flush makes everything written so far readable through Open and Follow.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil || !w.dirty {
		return
	}
	if err := w.enc.Flush(); err != nil {
		w.fail(fmt.Errorf("flush log %s: %w", w.location, err))
	}
	w.dirty = false
}

// Close ends the log, makes it durable and marks it complete. It returns
// what was stored. Closing twice returns the same result.
func (w *Writer) Close() (Info, error) {
	w.mu.Lock()
	if w.closed {
		defer w.mu.Unlock()
		return w.info, w.err
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stopFlush)
	<-w.flushDone

	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Close(); err != nil {
		w.fail(fmt.Errorf("close log %s: %w", w.location, err))
	} else {
		w.store.encoders.Put(w.enc)
	}
	if err := w.f.Sync(); err != nil {
		w.fail(fmt.Errorf("sync log %s: %w", w.location, err))
	}
	st, statErr := w.f.Stat()
	if err := w.f.Close(); err != nil {
		w.fail(fmt.Errorf("close log %s: %w", w.location, err))
	}
	if err := os.Rename(w.name+partSuffix, w.name); err != nil {
		w.fail(fmt.Errorf("finish log %s: %w", w.location, err))
	}
	w.info = Info{Location: w.location, Size: w.size, SHA256: hex.EncodeToString(w.sum.Sum(nil)),
		Received: w.received, OverLimit: w.overLimit()}
	if statErr == nil {
		w.info.CompressedSize = st.Size()
	}
	return w.info, w.err
}
