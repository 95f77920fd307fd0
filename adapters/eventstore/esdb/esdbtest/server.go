package esdbtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	gossipapi "github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	featuresapi "github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	streamsapi "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// DefaultMaxAppendSize is the server's default maximum append size in
// bytes: the sum of the encoded sizes of an append's proposed messages.
const DefaultMaxAppendSize = 1 << 20

// Options configures a Server. The zero value is a plain-text server with
// the default maximum append size.
type Options struct {
	// TLS serves over TLS with a fresh self-signed certificate for
	// 127.0.0.1 and localhost; CAFile returns the PEM file to trust.
	TLS bool
	// MaxAppendSize overrides DefaultMaxAppendSize when positive.
	MaxAppendSize int
	// SystemEvents is how many "$" system events to put in the log at
	// start, as a real server does ($settings, $stats...). Default 3; a
	// negative value means none.
	SystemEvents int
}

// Server is the EventStoreDB protocol test double. See the package doc.
type Server struct {
	opts   Options
	log    *eventLog
	grpc   *grpc.Server
	lis    *faultListener
	caFile string
	dir    string

	mu   sync.Mutex
	drop chan struct{} // closed by DropSubscriptions
	user string
	pass string
}

// Start starts a Server for a test and stops it when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("esdbtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// New starts a Server listening on 127.0.0.1 on a free port.
func New(opts Options) (*Server, error) {
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = DefaultMaxAppendSize
	}
	if opts.SystemEvents == 0 {
		opts.SystemEvents = 3
	}
	s := &Server{opts: opts, log: newEventLog(), drop: make(chan struct{})}
	var serverOpts []grpc.ServerOption
	if opts.TLS {
		dir, err := os.MkdirTemp("", "esdbtest-")
		if err != nil {
			return nil, fmt.Errorf("esdbtest: %w", err)
		}
		s.dir = dir
		cert, caPEM, err := selfSigned()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("esdbtest: certificate: %w", err)
		}
		s.caFile = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("esdbtest: %w", err)
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	}
	serverOpts = append(serverOpts,
		grpc.UnaryInterceptor(s.unaryGate),
		grpc.StreamInterceptor(s.streamGate),
		grpc.MaxRecvMsgSize(32<<20))
	s.grpc = grpc.NewServer(serverOpts...)
	streamsapi.RegisterStreamsServer(s.grpc, &streamsService{srv: s})
	featuresapi.RegisterServerFeaturesServer(s.grpc, &featuresService{})
	gossipapi.RegisterGossipServer(s.grpc, &gossipService{srv: s})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.cleanupDir()
		return nil, fmt.Errorf("esdbtest: listen: %w", err)
	}
	s.lis = newFaultListener(l)
	for i := 0; i < opts.SystemEvents; i++ {
		s.AppendSystemEvent(fmt.Sprintf("$system-%d", i), "$metadata")
	}
	go s.grpc.Serve(s.lis) //nolint:errcheck // Serve returns when Close stops the server.
	return s, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// CAFile returns the PEM file of the certificate to trust, or "" without TLS.
func (s *Server) CAFile() string { return s.caFile }

// ConnString returns a connection string for the server: plain
// "esdb://127.0.0.1:PORT?tls=false", or with TLS "esdb://127.0.0.1:PORT?tlsCAFile=…".
// Credentials, when set with SetCredentials, are included.
func (s *Server) ConnString() string {
	s.mu.Lock()
	user, pass := s.user, s.pass
	s.mu.Unlock()
	auth := ""
	if user != "" {
		auth = user + ":" + pass + "@"
	}
	if s.opts.TLS {
		return fmt.Sprintf("esdb://%s%s?tlsCAFile=%s", auth, s.Addr(), s.caFile)
	}
	return fmt.Sprintf("esdb://%s%s?tls=false", auth, s.Addr())
}

// Close stops the server and removes its temporary files.
func (s *Server) Close() {
	s.grpc.Stop()
	s.cleanupDir()
}

func (s *Server) cleanupDir() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// SetCredentials makes every Streams call require Basic authentication
// with user and pass; an empty user turns authentication off.
func (s *Server) SetCredentials(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, pass
}

// DropSubscriptions aborts every subscription stream open now with
// gRPC status Unavailable, as a server restart or network failure would.
// Plain reads and later subscriptions are not affected.
func (s *Server) DropSubscriptions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.drop)
	s.drop = make(chan struct{})
}

// RefuseConnections closes every open connection and, for d, closes new
// connections as soon as they are accepted and fails calls with
// Unavailable.
func (s *Server) RefuseConnections(d time.Duration) {
	s.lis.refuse(time.Now().Add(d))
}

// AppendSystemEvent appends a "$"-typed event to stream (which should
// start with "$"), as the server's own subsystems do.
func (s *Server) AppendSystemEvent(stream, typ string) {
	id := newUUID()
	s.log.append(stream, expectation{kind: expectAny}, []proposed{{
		id:   id,
		meta: map[string]string{"type": typ, "content-type": "application/json"},
		data: []byte(`{}`),
	}}, time.Now())
}

func (s *Server) dropChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drop
}

func (s *Server) credentials() (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user, s.pass
}

// gossipService answers gossip with this node as the only, leading member.
type gossipService struct {
	gossipapi.UnimplementedGossipServer
	srv *Server
}

func (g *gossipService) Read(ctx context.Context, _ *shared.Empty) (*gossipapi.ClusterInfo, error) {
	host, port, err := splitHostPort(g.srv.Addr())
	if err != nil {
		return nil, err
	}
	return &gossipapi.ClusterInfo{Members: []*gossipapi.MemberInfo{{
		State:        gossipapi.MemberInfo_Leader,
		IsAlive:      true,
		TimeStamp:    time.Now().UnixNano() / 100,
		HttpEndPoint: &gossipapi.EndPoint{Address: host, Port: port},
	}}}, nil
}

// featuresService reports a 24.10 server with the streams methods.
type featuresService struct {
	featuresapi.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*featuresapi.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &featuresapi.SupportedMethods{
		EventStoreServerVersion: "24.10.0",
		Methods: []*featuresapi.SupportedMethod{
			{ServiceName: svc, MethodName: "read"},
			{ServiceName: svc, MethodName: "append"},
		},
	}, nil
}
