package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"buildledger/events"
)

// DefaultMaxAppendSize is EventStoreDB's default maximum append size.
const DefaultMaxAppendSize = 1 << 20

// Errors of this adapter, wrapped with context. Test with errors.Is.
var (
	// ErrAppendTooLarge means an append exceeds the server's maximum
	// append size and Options.SplitLargeAppends is not set, or one event
	// alone exceeds it.
	ErrAppendTooLarge = errors.New("append exceeds the maximum append size")
	// ErrClosed means the Store was closed.
	ErrClosed = errors.New("event store closed")
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// Namespace is prepended to every stream name; reads and
	// subscriptions see only streams of the namespace. Must not start
	// with "$".
	Namespace string
	// ConnectTimeout bounds the probe Open makes. Default 10s.
	ConnectTimeout time.Duration
	// MaxAppendSize is the server's maximum append size in bytes.
	// Default DefaultMaxAppendSize.
	MaxAppendSize int
	// SplitLargeAppends writes an append larger than MaxAppendSize as
	// several consecutive appends: not atomic (see the package doc).
	SplitLargeAppends bool
	// BatchSize is the page size of reads and the buffer of a
	// subscription's channel. Default 1000.
	BatchSize int
	// RetryMin and RetryMax bound the backoff between resubscribe
	// attempts. Defaults 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// Logger receives the adapter's logs; the client's own logs go to it
	// at debug level. Default slog.Default().
	Logger *slog.Logger
}

// Store is an events.Store on EventStoreDB.
type Store struct {
	cfg  esdb.Configuration
	opts Options
	log  *slog.Logger
	addr string

	mu     sync.Mutex
	client *esdb.Client
	closed bool
}

var _ events.Store = (*Store)(nil)

// knownSettings are the connection string settings the client understands,
// lower-cased.
var knownSettings = map[string]bool{
	"tls": true, "tlsverifycert": true, "tlscafile": true, "usercertfile": true, "userkeyfile": true,
	"nodepreference": true, "maxdiscoverattempts": true, "discoveryinterval": true, "gossiptimeout": true,
	"keepaliveinterval": true, "keepalivetimeout": true, "defaultdeadline": true,
}

// Open connects to the server of connString and checks that it answers
// a read of $all with the given credentials within opts.ConnectTimeout.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = DefaultMaxAppendSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(5*time.Second, opts.RetryMin)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if strings.HasPrefix(opts.Namespace, "$") {
		return nil, fmt.Errorf("esdb: namespace %q: %w", opts.Namespace, events.ErrInvalidStream)
	}
	cfg, err := parse(connString)
	if err != nil {
		return nil, fmt.Errorf("esdb: connection string: %w", err)
	}
	lg := opts.Logger
	cfg.Logger = func(level esdb.LogLevel, format string, args ...any) {
		lg.Debug("esdb client: "+fmt.Sprintf(format, args...), "level", level)
	}
	s := &Store{cfg: *cfg, opts: opts, log: lg, addr: describe(cfg)}
	if err := s.probe(ctx); err != nil {
		return nil, err
	}
	// The client closes itself when a discovery runs out of attempts, and
	// then every call that was waiting for a connection at that moment
	// blocks forever (its state machine has exited). The store's client
	// therefore never stops rediscovering; only the probe above uses the
	// configured number of attempts, to fail fast.
	s.cfg.MaxDiscoverAttempts = math.MaxInt32
	s.client, err = esdb.NewClient(&s.cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: %s: %w", s.addr, err)
	}
	return s, nil
}

// parse checks connString more strictly than the client, then parses it.
func parse(connString string) (*esdb.Configuration, error) {
	if connString == "" {
		return nil, errors.New("empty; want esdb://host:2113?tls=false or esdb+discover://host")
	}
	if !strings.HasPrefix(connString, "esdb://") && !strings.HasPrefix(connString, "esdb+discover://") {
		return nil, errors.New("scheme must be esdb:// or esdb+discover://")
	}
	if i := strings.IndexByte(connString, '?'); i >= 0 {
		q, err := url.ParseQuery(connString[i+1:])
		if err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		for k, v := range q {
			lk := strings.ToLower(k)
			if !knownSettings[lk] {
				return nil, fmt.Errorf("unknown setting %q", k)
			}
			if lk == "defaultdeadline" {
				if n, err := strconv.Atoi(v[0]); err != nil || n < 1 {
					return nil, fmt.Errorf("setting %s=%q: want a positive number of milliseconds", k, v[0])
				}
			}
		}
	}
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return nil, redact(err, connString)
	}
	return cfg, nil
}

// redact removes a password that the URL parser may have echoed.
func redact(err error, connString string) error {
	u, perr := url.Parse(strings.ReplaceAll(connString, ",", "/"))
	if perr != nil || u.User == nil {
		return err
	}
	if pass, ok := u.User.Password(); ok && pass != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pass, "xxxxx"))
	}
	return err
}

// describe names the server(s) of cfg for error messages.
func describe(cfg *esdb.Configuration) string {
	if len(cfg.GossipSeeds) > 0 {
		hosts := make([]string, len(cfg.GossipSeeds))
		for i, e := range cfg.GossipSeeds {
			hosts[i] = e.String()
		}
		return "cluster " + strings.Join(hosts, ",")
	}
	if cfg.DnsDiscover {
		return "cluster " + cfg.Address
	}
	return cfg.Address
}

// probe reads one event of $all backwards. The client's connection
// discovery ignores contexts, so the read runs aside and the wait is
// bounded here.
func (s *Store) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	cfg := s.cfg
	c, err := esdb.NewClient(&cfg)
	if err != nil {
		return fmt.Errorf("esdb: %s: %w", s.addr, err)
	}
	done := make(chan error, 1)
	go func() {
		// Closed here, once its only call is over: closing it while the
		// call waits in discovery could make the client panic.
		defer c.Close()
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err == nil {
			_, err = rs.Recv()
			rs.Close()
			if isEOF(err) {
				err = nil
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return s.connectError(err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("esdb: %s: no answer within %s (is the server running, and is tls= right?): %w", s.addr, s.opts.ConnectTimeout, ctx.Err())
	}
}

// connectError explains a failed probe.
func (s *Store) connectError(err error) error {
	code, _ := esdbCode(err)
	gc := grpcCode(err)
	switch {
	case code == esdb.ErrorCodeUnauthenticated || gc == codes.Unauthenticated:
		user := s.cfg.Username
		if user == "" {
			return fmt.Errorf("esdb: %s: authentication required: give user:pass@ in the connection string (over TLS): %w", s.addr, err)
		}
		return fmt.Errorf("esdb: %s: authentication failed for user %q: wrong credentials: %w", s.addr, user, err)
	case code == esdb.ErrorCodeAccessDenied || gc == codes.PermissionDenied:
		return fmt.Errorf("esdb: %s: access denied reading $all (the user needs read access to $all): %w", s.addr, err)
	case strings.Contains(err.Error(), "maximum discovery attempt") || code == esdb.ErrorUnavailable || gc == codes.Unavailable:
		hint := ""
		if msg := err.Error(); strings.Contains(msg, "tls") || strings.Contains(msg, "handshake") || strings.Contains(msg, "certificate") {
			hint = " (TLS problem: check tls=false for an insecure server, or tlsCAFile)"
		}
		return fmt.Errorf("esdb: cannot reach %s%s: %w", s.addr, hint, err)
	}
	return fmt.Errorf("esdb: %s: probe read of $all: %w", s.addr, err)
}

// Close closes the connection. Close subscriptions first.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.client.Close()
	}
	return nil
}

// current returns the client in use.
func (s *Store) current() (*esdb.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.client, nil
}

// renew replaces old, which closed itself after failing to rediscover the
// server, with a new client. The old one's state machine has already
// exited; closing it again could make the client send on a closed channel.
func (s *Store) renew(old *esdb.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.client != old {
		return nil
	}
	c, err := esdb.NewClient(&s.cfg)
	if err != nil {
		return fmt.Errorf("esdb: new client: %w", err)
	}
	s.log.Info("esdb: client gave up on the server; reconnecting with a new client", "server", s.addr)
	s.client = c
	return nil
}

// call runs fn with the current client, once more with a new client if
// the current one has closed itself. A closed client fails before sending
// anything, so the retry cannot repeat a write.
func (s *Store) call(fn func(c *esdb.Client) error) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	err = fn(c)
	if code, ok := esdbCode(err); ok && code == esdb.ErrorCodeConnectionClosed {
		if rerr := s.renew(c); rerr != nil {
			return rerr
		}
		if c, err = s.current(); err != nil {
			return err
		}
		err = fn(c)
	}
	return err
}

// esdbCode returns the client error code in err's chain.
func esdbCode(err error) (esdb.ErrorCode, bool) {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// grpcCode returns the gRPC status code in err's chain, or OK.
func grpcCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	var e *esdb.Error
	if errors.As(err, &e) && e.Err() != nil {
		if st, ok := status.FromError(e.Err()); ok {
			return st.Code()
		}
	}
	return codes.Unknown
}
