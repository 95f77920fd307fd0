package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/klauspost/compress/zstd"
)

// maxPrettyLog is how much of a log the HTML page shows (the tail).
const maxPrettyLog = 2 << 20

// openLog opens a log file, decompressing .zst. A missing plain file is
// looked up with .zst appended.
func openLog(dir, loc string) (io.ReadCloser, bool, error) {
	p, err := confine(dir, loc)
	if err != nil && !strings.HasSuffix(loc, ".zst") {
		if p2, err2 := confine(dir, loc+".zst"); err2 == nil {
			p, err = p2, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false, errNotFound("log")
	}
	if !strings.HasSuffix(p, ".zst") {
		return f, false, nil
	}
	zr, err := zstd.NewReader(f)
	if err != nil {
		f.Close()
		return nil, true, fmt.Errorf("open zstd log %s: %w", p, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr.IOReadCloser(), f}, true, nil
}

// buildLog serves the log of a build (its own derivation's step) or of
// step nr: pretty (HTML), raw, tail or stream (server-sent events).
func (s *server) buildLog(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.loadBuild(w, r)
		if !ok {
			return
		}
		nr := 0
		if v := chi.URLParam(r, "nr"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				s.fail(w, r, errNotFound("step "+strconv.Quote(v)))
				return
			}
			nr = n
		}
		ref, err := s.cfg.Queries.StepLog(r.Context(), b.ID, nr)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if mode == "stream" {
			s.streamLog(w, r, b.ID, nr, ref)
			return
		}
		rc, _, err := openLog(s.cfg.LogDir, ref.Location)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer rc.Close()
		switch mode {
		case "raw":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if _, err := io.Copy(w, rc); err != nil {
				s.log.Debug("send log", "err", err)
			}
		case "tail":
			n := queryInt(r, "tail", 50, 10000)
			lines, err := tailLines(rc, n)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(lines)
		default:
			text, cut, err := tailBytes(rc, maxPrettyLog)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			base := "/build/" + strconv.FormatInt(b.ID, 10)
			if nr != 0 {
				base += "/step/" + strconv.Itoa(nr)
			}
			s.render(w, r, http.StatusOK, "log", map[string]any{"Build": b, "StepNr": nr, "Log": string(text),
				"Cut": cut, "Raw": base + "/log/raw", "Stream": base + "/log/stream", "Running": ref.Running,
				"DrvPath": ref.DrvPath})
		}
	}
}

// tailLines returns the last n lines of r.
func tailLines(r io.Reader, n int) ([]byte, error) {
	ring := make([][]byte, 0, n)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := append(append([]byte(nil), sc.Bytes()...), '\n')
		if len(ring) == n {
			ring = append(ring[:0:0], ring[1:]...)
		}
		ring = append(ring, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return bytes.Join(ring, nil), nil
}

// tailBytes returns the last max bytes of r and whether anything was cut.
func tailBytes(r io.Reader, max int) ([]byte, bool, error) {
	buf := make([]byte, 0, 64<<10)
	cut := false
	chunk := make([]byte, 64<<10)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) > 2*max {
			buf = append(buf[:0:0], buf[len(buf)-max:]...)
			cut = true
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("read log: %w", err)
		}
	}
	if len(buf) > max {
		buf, cut = buf[len(buf)-max:], true
	}
	return buf, cut, nil
}

// streamLog sends a growing log as server-sent events: one "data" event
// per chunk of lines, and "end" once the step has finished and the whole
// log was sent.
func (s *server) streamLog(w http.ResponseWriter, r *http.Request, buildID int64, nr int, ref LogRef) {
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, &httpError{Status: http.StatusNotImplemented, Msg: "streaming not supported"})
		return
	}
	rc, compressed, err := openLog(s.cfg.LogDir, ref.Location)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	br := bufio.NewReaderSize(rc, 64<<10)
	var partial []byte
	send := func() error {
		for {
			line, err := br.ReadBytes('\n')
			partial = append(partial, line...)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			fmt.Fprintf(w, "data: %s\n\n", strings.TrimRight(string(partial), "\r\n"))
			partial = partial[:0]
		}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Hour)
	running := ref.Running && !compressed
	checks := 0
	for {
		if err := send(); err != nil {
			s.log.Debug("stream log", "err", err)
			return
		}
		fl.Flush()
		if !running {
			if len(partial) > 0 {
				fmt.Fprintf(w, "data: %s\n\n", strings.TrimRight(string(partial), "\r\n"))
			}
			fmt.Fprint(w, "event: end\ndata: \n\n")
			fl.Flush()
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline:
			return
		case <-tick.C:
		}
		if checks++; checks%4 == 0 {
			if ref2, err := s.cfg.Queries.StepLog(r.Context(), buildID, nr); err == nil && !ref2.Running {
				running = false
			}
		}
	}
}
