package web

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Stream caps, by default: a browser opens one stream per log page it
// shows, and holds up to six connections to a site.
const (
	defaultStreamsPerClient = 8
	defaultStreams          = 256
	// streamChunks is how many chunks a watcher may fall behind its
	// follower before it reads the missed bytes from the log instead.
	streamChunks = 16
)

var errTooManyStreams = errors.New("too many log streams")

// logStreams caps the log streams open at once, per client address and in
// all, and shares one follower per running log among all its watchers:
// however many browsers watch a step, its log file is polled, and its
// attempt looked up in the database, by one goroutine.
type logStreams struct {
	logs      Logs
	perClient int
	total     int

	mu        sync.Mutex
	open      int
	byClient  map[string]int
	followers map[string]*follower
}

func newLogStreams(logs Logs, perClient, total int) *logStreams {
	return &logStreams{logs: logs, perClient: perClient, total: total, byClient: map[string]int{}, followers: map[string]*follower{}}
}

// admit counts a new stream of client, or refuses it beyond the caps.
// The stream calls the release function it returns when it ends.
func (s *logStreams) admit(client string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.total || s.byClient[client] >= s.perClient {
		return nil, errTooManyStreams
	}
	s.open++
	s.byClient[client]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.open--
		if s.byClient[client]--; s.byClient[client] <= 0 {
			delete(s.byClient, client)
		}
	}, nil
}

// follower reads one running log as its writer writes it, and passes each
// chunk to the watchers of the log.
type follower struct {
	location string
	cancel   context.CancelFunc
	// read counts the bytes read so far; each watcher gets the chunks
	// after the count at which it joined.
	read     int64
	watchers map[*watcher]bool
}

// watcher is one stream's subscription to a follower. ch is closed when
// the follower ends (err says how) or when the watcher fell behind
// (lagged).
type watcher struct {
	ch     chan []byte
	err    error
	lagged bool
}

// watch returns the log at location from its start, following it while
// it is written, for one stream: a reader over the follower of that log,
// started for the first watcher. reload asks whether the attempt is
// still the running one; the follower ends when it is not.
func (s *logStreams) watch(ctx context.Context, location string, reload func(context.Context) (LogRef, error)) (io.ReadCloser, error) {
	r := &watchReader{s: s, ctx: ctx, location: location, reload: reload}
	if err := r.join(); err != nil {
		return nil, err
	}
	return r, nil
}

// subscribe adds a watcher to the follower of location, starting one if
// none runs, and returns it with the count of bytes the follower had read
// when it joined.
func (s *logStreams) subscribe(location string, reload func(context.Context) (LogRef, error)) (*watcher, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followers[location]
	if f == nil {
		ctx, cancel := context.WithTimeout(context.Background(), maxStream)
		rc, err := s.logs.Follow(ctx, location)
		if err != nil {
			cancel()
			return nil, 0, err
		}
		f = &follower{location: location, cancel: cancel, watchers: map[*watcher]bool{}}
		s.followers[location] = f
		go s.follow(ctx, f, rc)
		go watchAttempt(ctx, cancel, location, reload)
	}
	w := &watcher{ch: make(chan []byte, streamChunks)}
	f.watchers[w] = true
	return w, f.read, nil
}

// unsubscribe removes a watcher; the follower stops with its last one.
func (s *logStreams) unsubscribe(location string, w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followers[location]
	if f == nil || !f.watchers[w] {
		return
	}
	delete(f.watchers, w)
	if len(f.watchers) == 0 {
		delete(s.followers, location)
		f.cancel()
	}
}

// follow reads the log and hands each chunk to every watcher. A watcher
// whose channel is full is dropped with lagged set: it reads what it
// missed from the log, and joins again.
func (s *logStreams) follow(ctx context.Context, f *follower, rc io.ReadCloser) {
	defer f.cancel()
	defer rc.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		s.mu.Lock()
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			f.read += int64(n)
			for w := range f.watchers {
				select {
				case w.ch <- chunk:
				default:
					w.lagged = true
					close(w.ch)
					delete(f.watchers, w)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, io.EOF) {
				err = ctx.Err()
			}
			for w := range f.watchers {
				w.err = err
				close(w.ch)
			}
			f.watchers = nil
			if s.followers[f.location] == f {
				delete(s.followers, f.location)
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// watchReader is one stream's view of a followed log: the bytes before
// it joined the follower read from the log store, then the follower's
// chunks.
type watchReader struct {
	s        *logStreams
	ctx      context.Context
	location string
	reload   func(context.Context) (LogRef, error)
	// off counts the bytes this reader returned; skip is how many of
	// the follower's next bytes it returned already (after joining a new
	// follower, which reads from the start).
	off  int64
	skip int64
	// head reads the log from off up to the follower's count at joining.
	head    io.Reader
	headRC  io.Closer
	w       *watcher
	pending []byte
}

// join subscribes to the follower and opens the log for the bytes the
// follower read before.
func (r *watchReader) join() error {
	w, at, err := r.s.subscribe(r.location, r.reload)
	if err != nil {
		return err
	}
	r.w = w
	if at <= r.off {
		r.skip = r.off - at
		return nil
	}
	rc, err := r.s.logs.Open(r.location)
	if err != nil {
		r.s.unsubscribe(r.location, w)
		return err
	}
	if _, err := io.CopyN(io.Discard, rc, r.off); err != nil {
		rc.Close()
		r.s.unsubscribe(r.location, w)
		return err
	}
	r.head, r.headRC = io.LimitReader(rc, at-r.off), rc
	return nil
}

// Read implements io.Reader.
func (r *watchReader) Read(p []byte) (int, error) {
	for {
		if r.head != nil {
			n, err := r.head.Read(p)
			r.off += int64(n)
			if err == io.EOF {
				r.closeHead()
				err = nil
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if len(r.pending) > 0 {
			n := copy(p, r.pending)
			r.pending = r.pending[n:]
			r.off += int64(n)
			return n, nil
		}
		select {
		case chunk, ok := <-r.w.ch:
			if ok {
				n := min(r.skip, int64(len(chunk)))
				r.pending, r.skip = chunk[n:], r.skip-n
				continue
			}
			if r.w.lagged {
				if err := r.join(); err != nil {
					return 0, err
				}
				continue
			}
			return 0, r.w.err
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *watchReader) closeHead() {
	if r.headRC != nil {
		r.headRC.Close()
	}
	r.head, r.headRC = nil, nil
}

// Close leaves the follower.
func (r *watchReader) Close() error {
	r.closeHead()
	r.s.unsubscribe(r.location, r.w)
	return nil
}

// watchAttempt cancels a follower orphanGrace after the attempt whose
// log at location it follows is no longer the running one.
func watchAttempt(ctx context.Context, cancel context.CancelFunc, location string, reload func(context.Context) (LogRef, error)) {
	t := time.NewTicker(orphanCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ref, err := reload(ctx); err == nil && (!ref.Running || ref.Location != location) {
			break
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(orphanGrace):
		cancel()
	}
}
