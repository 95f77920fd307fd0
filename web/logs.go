package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"buildledger/domain/names"
)

// Logs reads step logs where the builder writes them
// (adapters/logstore's Store). A log still being written reads as far as
// its writer has flushed, so one code path serves running and finished
// steps.
type Logs interface {
	// Open returns the log at location as written so far. An unknown
	// log is an error wrapping fs.ErrNotExist.
	Open(location string) (io.ReadCloser, error)
	// Follow returns the log at location from its start; while it is
	// being written, reads wait for more instead of ending, until ctx
	// ends.
	Follow(ctx context.Context, location string) (io.ReadCloser, error)
}

const (
	// maxPrettyLog is how much of a log the HTML page shows (the tail).
	maxPrettyLog = 2 << 20
	// maxTailLines bounds ?tail=N.
	maxTailLines = 10000
	// maxStream bounds one stream of a running log.
	maxStream = 2 * time.Hour
	// maxStreamLine is the longest line a stream sends as one event.
	maxStreamLine = 64 << 10
	// orphanCheck is how often a stream asks whether the attempt it
	// follows has ended; orphanGrace is how long it then goes on
	// reading. The builder closes a log before it records the attempt's
	// end, so only a log whose writer died is still open after that.
	orphanCheck = 2 * time.Second
	orphanGrace = 2 * time.Second
)

// buildLog serves the log of a build (its own derivation's step) or of
// step nr: pretty (HTML), raw, tail or stream (server-sent events).
func (s *server) buildLog(mode string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, nr, err := s.loadStep(r)
		if err != nil {
			return err
		}
		ref, err := s.cfg.Queries.StepLog(r.Context(), b.ID, nr)
		if err == nil && mode == "stream" {
			return s.streamLog(w, r, ref, func(ctx context.Context) (LogRef, error) { return s.cfg.Queries.StepLog(ctx, b.ID, nr) })
		}
		rc, err := s.openLog(ref, err)
		if err != nil {
			return err
		}
		defer rc.Close()
		switch mode {
		case "raw":
			s.sendLog(w, rc, 0)
		case "tail":
			s.sendLog(w, rc, queryInt(r, "tail", 50, maxTailLines))
		default:
			text, cut, err := tailBytes(rc, maxPrettyLog)
			if err != nil {
				return err
			}
			base := "/build/" + strconv.FormatInt(b.ID, 10)
			if nr != 0 {
				base += "/step/" + strconv.Itoa(nr)
			}
			s.render(w, r, http.StatusOK, "log", &logPage{Build: b, StepNr: nr, Log: string(text),
				Cut: cut, Raw: base + "/log/raw", Stream: base + "/log/stream", Running: ref.Running,
				DrvPath: ref.DrvPath})
		}
		return nil
	}
}

// logPage shows the end of a build's or step's log (log.html).
type logPage struct {
	page
	Build Build
	// StepNr is 0 for the build's own log.
	StepNr  int
	DrvPath string
	Log     string
	// Cut says Log is only the end of the log.
	Cut bool
	// Raw and Stream are the URLs of the whole log and of its live
	// stream, which the page follows while Running.
	Raw, Stream string
	Running     bool
}

// nixlogRedirect sends Hydra's old step log URLs,
// /build/N/nixlog/S[/MODE], to /build/N/step/S/log[/MODE] for good (301),
// with the query, as Hydra does.
func (s *server) nixlogRedirect(w http.ResponseWriter, r *http.Request) error {
	b, nr, err := s.loadStep(r)
	if err != nil {
		return err
	}
	target := "/build/" + strconv.FormatInt(b.ID, 10) + "/step/" + strconv.Itoa(nr) + "/log"
	switch mode := chi.URLParam(r, "mode"); mode {
	case "":
	case "raw", "tail", "stream":
		target += "/" + mode
	default:
		return errNotFound("log mode " + strconv.Quote(mode))
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
	return nil
}

// drvLog serves the log of the newest attempt at building a derivation,
// named by its file name in the store, as text: Hydra's
// /log/DRVFILE[?tail=N], which is also the log/DRVFILE of the served
// binary cache that `nix log --store` asks for.
func (s *server) drvLog(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "drv")
	if !names.DrvFile(name) {
		return errBadRequest("%q is not the file name of a derivation", name)
	}
	tail := 0
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errBadRequest("tail %q is not a number of lines", v)
		}
		tail = min(n, maxTailLines)
	}
	ref, err := s.cfg.Queries.DrvLog(r.Context(), path.Join(s.cfg.StoreDir, name))
	rc, err := s.openLog(ref, err)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.sendLog(w, rc, tail)
	return nil
}

// loadStep loads the build of a log URL and reads its optional step
// number {nr}, 0 for the build's own step.
func (s *server) loadStep(r *http.Request) (Build, int, error) {
	b, err := s.loadBuild(r)
	if err != nil {
		return b, 0, err
	}
	v := chi.URLParam(r, "nr")
	if v == "" {
		return b, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return b, 0, errNotFound("step " + strconv.Quote(v))
	}
	return b, n, nil
}

// openLog opens the log ref names, as written so far, or returns the
// error of the query that found ref (err) or of the log store.
func (s *server) openLog(ref LogRef, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, logError(ref, err)
	}
	rc, err := s.cfg.Logs.Open(ref.Location)
	if err != nil {
		return nil, logError(ref, err)
	}
	return rc, nil
}

// logError turns the log store's "no such log" into a 404.
func logError(ref LogRef, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errNotFound("log of " + ref.DrvPath)
	}
	return err
}

// sendLog answers the log as plain text: the last tail lines, or all of
// it when tail is 0.
func (s *server) sendLog(w http.ResponseWriter, rc io.Reader, tail int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if tail > 0 {
		lines, err := tailLines(rc, tail)
		if err != nil {
			s.log.Debug("read log", "err", err)
		}
		_, _ = w.Write(lines)
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Debug("send log", "err", err)
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
		return bytes.Join(ring, nil), fmt.Errorf("read log: %w", err)
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

// streamLog sends a log as server-sent events, one "data" event per line,
// then an "end" event. A running attempt's log is followed as the builder
// writes it, until its writer closes it, by one follower shared with
// every other stream of that log (logstream.go); reload asks again for
// the attempt, so that a log whose writer died does not keep the stream
// open. Streams are capped per client address and in all (429).
func (s *server) streamLog(w http.ResponseWriter, r *http.Request, ref LogRef, reload func(context.Context) (LogRef, error)) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return &httpError{Status: http.StatusNotImplemented, Msg: "streaming not supported"}
	}
	release, err := s.streams.admit(s.clientAddr(r))
	if err != nil {
		w.Header().Set("Retry-After", "60")
		return &httpError{Status: http.StatusTooManyRequests, Msg: "too many log streams open: close some and try again"}
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), maxStream)
	defer cancel()
	var rc io.ReadCloser
	if ref.Running {
		rc, err = s.streams.watch(ctx, ref.Location, reload)
	} else {
		rc, err = s.cfg.Logs.Open(ref.Location)
	}
	if err != nil {
		return logError(ref, err)
	}
	defer rc.Close()
	// The server's write timeout bounds every other answer; a stream
	// lasts as long as its step (at most maxStream).
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.log.Debug("stream log: no write deadline control", "err", err)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	br := bufio.NewReaderSize(rc, maxStreamLine)
	for {
		// A line longer than the buffer goes out in pieces, so a log
		// with no newline cannot grow one event without bound.
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		if len(line) > 0 {
			writeEvent(w, line)
		}
		if err != nil {
			if r.Context().Err() != nil {
				return nil
			}
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Debug("stream log", "location", ref.Location, "err", err)
			}
			break
		}
		// Flush before a read that may wait for the writer.
		if rest, _ := br.Peek(br.Buffered()); bytes.IndexByte(rest, '\n') < 0 {
			fl.Flush()
		}
	}
	fmt.Fprint(w, "event: end\ndata: \n\n")
	fl.Flush()
	return nil
}

// writeEvent sends one log line as a server-sent event. A carriage
// return ends a field in that format, so each part of the line between
// them goes in a data field of its own (the client joins them with
// newlines): a log cannot inject fields or events such as "event: end".
func writeEvent(w io.Writer, line []byte) {
	line = bytes.TrimRight(line, "\r\n")
	for part := range bytes.SplitSeq(line, []byte("\r")) {
		fmt.Fprintf(w, "data: %s\n", part)
	}
	fmt.Fprint(w, "\n")
}
