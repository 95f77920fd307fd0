package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Authorize decides whether user may log in with the public key whose
// OpenSSH SHA256 fingerprint is given. It must not record anything: it
// runs for every key a client offers, before the client proved it holds
// the private key.
type Authorize func(ctx context.Context, user, fingerprint string) error

// ExecHandler serves one exec request whose command a ServerConfig names.
// It returns the command's exit status; ctx ends when the client goes
// away (the connection closes).
type ExecHandler func(ctx context.Context, s *ServerSession) int

// ServerSession is one exec request of an authenticated client.
type ServerSession struct {
	// User is the SSH user name and Fingerprint the key it authenticated
	// with.
	User, Fingerprint string
	// Command is the exec request's command line.
	Command string
	// Stdin and Stdout are the channel; Stderr its extended data, where
	// Nix expects a remote command's messages and build logs.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Read reads the client's input.
func (s *ServerSession) Read(p []byte) (int, error) { return s.Stdin.Read(p) }

// Write writes to the client's output.
func (s *ServerSession) Write(p []byte) (int, error) { return s.Stdout.Write(p) }

// ServerConfig configures Listen.
type ServerConfig struct {
	// HostKeyFile holds the server's private host key (OpenSSH PEM). A
	// missing file is created with a new ed25519 key, mode 0600.
	HostKeyFile string
	// Authorize checks every offered public key.
	Authorize Authorize
	// Commands maps exec command lines to their handlers; any other
	// command, a shell or a pty is refused.
	Commands map[string]ExecHandler
	// HandshakeTimeout bounds the SSH handshake and authentication
	// (default 30 s), so idle sockets cannot pile up.
	HandshakeTimeout time.Duration
	// KeepAliveInterval is how often the server sends a client a
	// keepalive@openssh.com request; zero means DefaultKeepAliveInterval,
	// negative none. A client that leaves KeepAliveCountMax (zero:
	// DefaultKeepAliveCountMax) intervals without a reply is taken as
	// gone and its connection closed, which ends its handlers' contexts.
	KeepAliveInterval time.Duration
	KeepAliveCountMax int
	Log               *slog.Logger
}

// Server is an SSH server that runs only the commands it was given.
type Server struct {
	cfg     ServerConfig
	ssh     *gossh.ServerConfig
	ln      net.Listener
	hostKey gossh.PublicKey
	log     *slog.Logger
	wg      sync.WaitGroup
}

// Listen loads (or creates) the host key and listens on addr.
func Listen(addr string, cfg ServerConfig) (*Server, error) {
	if cfg.Authorize == nil {
		return nil, errors.New("ssh server: no Authorize")
	}
	signer, err := loadOrCreateHostKey(cfg.HostKeyFile)
	if err != nil {
		return nil, err
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.KeepAliveInterval == 0 {
		cfg.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if cfg.KeepAliveCountMax <= 0 {
		cfg.KeepAliveCountMax = DefaultKeepAliveCountMax
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, hostKey: signer.PublicKey(), log: log}
	s.ssh = &gossh.ServerConfig{
		MaxAuthTries: 6,
		PublicKeyCallback: func(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			fp := gossh.FingerprintSHA256(key)
			ctx, cancel := context.WithTimeout(context.Background(), cfg.HandshakeTimeout)
			defer cancel()
			if err := cfg.Authorize(ctx, meta.User(), fp); err != nil {
				s.log.Info("ssh key refused", "user", meta.User(), "fingerprint", fp, "remote", meta.RemoteAddr().String(), "reason", err)
				return nil, fmt.Errorf("key %s refused for %s", fp, meta.User())
			}
			return &gossh.Permissions{Extensions: map[string]string{"fingerprint": fp}}, nil
		},
	}
	s.ssh.AddHostKey(signer)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	s.ln = ln
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// HostKey is the server's public host key, for clients' known_hosts.
func (s *Server) HostKey() gossh.PublicKey { return s.hostKey }

// KnownHostsLine is a known_hosts line for the server at host:port.
func (s *Server) KnownHostsLine(hostport string) string {
	return knownHostsLine(hostport, s.hostKey)
}

func knownHostsLine(hostport string, key gossh.PublicKey) string {
	host, port, err := net.SplitHostPort(hostport)
	if err == nil && port != "22" {
		host = "[" + host + "]:" + port
	} else if err != nil {
		host = hostport
	}
	return host + " " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))
}

// Serve accepts connections until ctx ends, then closes the listener and
// every connection and waits for their handlers.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = s.ln.Close() })
	defer stop()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ssh server: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(ctx, nc)
		}()
	}
}

func (s *Server) handleConn(ctx context.Context, nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	conn, chans, reqs, err := gossh.NewServerConn(nc, s.ssh)
	if err != nil {
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	closed := make(chan struct{})
	go func() {
		// The connection ends: every handler's context ends with it.
		_ = conn.Wait()
		cancel()
		close(closed)
	}()
	if s.cfg.KeepAliveInterval > 0 {
		go keepAlive(conn, closed, s.cfg.KeepAliveInterval, s.cfg.KeepAliveCountMax, func(err error) {
			s.log.Info("ssh client gone", "user", conn.User(), "remote", conn.RemoteAddr().String(), "reason", err)
			_ = conn.Close()
		})
	}
	go gossh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(gossh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handleSession(cctx, conn, ch, creqs)
		}()
	}
	wg.Wait()
}

// handleSession waits for one exec request and runs its handler; env
// requests are acknowledged and ignored, anything else refused.
func (s *Server) handleSession(ctx context.Context, conn *gossh.ServerConn, ch gossh.Channel, reqs <-chan *gossh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil)
		case "exec":
			cmd, ok := execCommand(req.Payload)
			h := s.cfg.Commands[cmd]
			if !ok || h == nil {
				_ = req.Reply(false, nil)
				fmt.Fprintf(ch.Stderr(), "buildledger: command %q is not served here\n", cmd)
				sendExit(ch, 127)
				return
			}
			_ = req.Reply(true, nil)
			go gossh.DiscardRequests(reqs)
			sess := &ServerSession{User: conn.User(), Fingerprint: conn.Permissions.Extensions["fingerprint"],
				Command: cmd, Stdin: ch, Stdout: ch, Stderr: ch.Stderr()}
			code := h(ctx, sess)
			_ = ch.CloseWrite()
			sendExit(ch, code)
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// execCommand decodes an exec request's payload: one SSH string.
func execCommand(p []byte) (string, bool) {
	if len(p) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) != uint64(len(p)-4) {
		return "", false
	}
	return string(p[4:]), true
}

func sendExit(ch gossh.Channel, code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	_, _ = ch.SendRequest("exit-status", false, b[:])
}

// loadOrCreateHostKey reads the host key in path, or writes a new ed25519
// key there when the file does not exist.
func loadOrCreateHostKey(path string) (gossh.Signer, error) {
	if path == "" {
		return nil, errors.New("ssh server: no host key file")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("generate host key: %w", gerr)
		}
		block, merr := gossh.MarshalPrivateKey(priv, "buildledger remote builder")
		if merr != nil {
			return nil, fmt.Errorf("encode host key: %w", merr)
		}
		b = pem.EncodeToMemory(block)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("host key directory: %w", err)
		}
		f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if oerr != nil {
			return nil, fmt.Errorf("write host key: %w", oerr)
		}
		if _, werr := f.Write(b); werr != nil {
			_ = f.Close()
			return nil, fmt.Errorf("write host key: %w", werr)
		}
		if cerr := f.Close(); cerr != nil {
			return nil, fmt.Errorf("write host key: %w", cerr)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse host key %s: %w", path, err)
	}
	return signer, nil
}
