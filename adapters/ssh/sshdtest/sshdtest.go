// Package sshdtest starts a real OpenSSH sshd on a loopback port for tests.
//
// Each server gets its own ed25519 host key and client key in a temporary
// directory, accepts only that client key, and is killed when the test ends.
// Kill, Restart, Pause and Resume let fault tests make the "builder" vanish.
//
// The package is Linux-only in practice: killing and freezing a server walks
// /proc to find the per-connection processes sshd forks.
package sshdtest

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultSshd is the sshd binary Start uses when Options.Sshd is empty.
const DefaultSshd = "/usr/sbin/sshd"

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Sshd is the path of the sshd binary; empty means DefaultSshd.
	Sshd string
	// Env is set in the environment of every remote command with sshd's
	// SetEnv directive, for example {"PATH": "/usr/bin:/bin"}. Unless Env
	// sets SHLVL, Start sets SHLVL=1: Debian's bash sources ~/.bashrc for
	// commands run by sshd at shell level 1, which makes remote commands
	// depend on the test user's dotfiles (and can cost a second each).
	Env map[string]string
	// ExtraConfig lines are appended to the generated sshd_config.
	ExtraConfig []string
}

// Server is a running sshd owned by one test.
type Server struct {
	// Addr is the listening address, "127.0.0.1:<port>".
	Addr string
	// Port is the listening TCP port.
	Port int
	// User is the login name the client key is authorized for: the user the
	// test runs as.
	User string
	// Dir is the temporary directory holding keys, config and pid file.
	Dir string
	// ClientKeyPath is the client's private key (OpenSSH format, ed25519).
	ClientKeyPath string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// HostPublicKey is the base64 of HostKey's wire format, as in the last
	// column of a Nix machines file line or the second field of a
	// known_hosts line.
	HostPublicKey string
	// KnownHostsPath is a known_hosts file listing HostKey for Addr.
	KnownHostsPath string
	// ConfigPath is the generated sshd_config.
	ConfigPath string

	t    testing.TB
	sshd string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused []int
	log    *tailWriter
}

// Start starts an sshd for t and registers its shutdown with t.Cleanup.
// Without an sshd binary the test is skipped with a loud message, or fails
// when the environment variable CI is "true".
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	sshd := opts.Sshd
	if sshd == "" {
		sshd = DefaultSshd
	}
	if _, err := os.Stat(sshd); err != nil {
		msg := fmt.Sprintf("sshdtest: OpenSSH server not available (%v): SSH TESTS NOT RUN; install openssh-server", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		t.Fatalf("sshdtest: create privilege separation directory /run/sshd: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshdtest: current user: %v", err)
	}
	dir := t.TempDir()
	s := &Server{
		User:           u.Username,
		Dir:            dir,
		ClientKeyPath:  filepath.Join(dir, "client_ed25519"),
		KnownHostsPath: filepath.Join(dir, "known_hosts"),
		ConfigPath:     filepath.Join(dir, "sshd_config"),
		t:              t,
		sshd:           sshd,
		log:            &tailWriter{max: 64 << 10},
	}
	hostKeyPath := filepath.Join(dir, "host_ed25519")
	if s.HostKey, err = writeKeyPair(hostKeyPath, "sshdtest-host"); err != nil {
		t.Fatalf("sshdtest: host key: %v", err)
	}
	s.HostPublicKey = base64.StdEncoding.EncodeToString(s.HostKey.Marshal())
	clientKey, err := writeKeyPair(s.ClientKeyPath, "sshdtest-client")
	if err != nil {
		t.Fatalf("sshdtest: client key: %v", err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(clientKey), 0o600); err != nil {
		t.Fatalf("sshdtest: write %s: %v", authKeys, err)
	}
	t.Cleanup(s.shutdown)

	// A free port can be taken by someone else between probing and sshd's
	// bind, so try a few.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := s.writeConfig(hostKeyPath, authKeys, opts); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("sshdtest: start sshd: %v\nsshd log:\n%s", lastErr, s.log.String())
	return nil
}

// URI returns the server's store URI, "ssh://<user>@127.0.0.1:<port>".
func (s *Server) URI() string {
	return "ssh://" + s.User + "@" + s.Addr
}

// HostKeyLine returns the host key as an authorized_keys style line
// ("ssh-ed25519 AAAA..."), without a trailing newline.
func (s *Server) HostKeyLine() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
}

// Log returns the tail of sshd's own log output.
func (s *Server) Log() string {
	return s.log.String()
}

// Kill kills sshd and every process it forked (connection handlers and the
// remote commands they run), as if the machine vanished. Open connections
// break. It is a no-op when the server is not running.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// Restart kills the server if it runs and starts it again on the same port
// with the same keys.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	s.killLocked()
	s.mu.Unlock()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("sshdtest: restart sshd on %s: %v\nsshd log:\n%s", s.Addr, err, s.log.String())
}

// Pause freezes sshd and all its descendants with SIGSTOP: connections stay
// open but nothing answers, like a builder that dropped off the network.
func (s *Server) Pause() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.paused = signalTree(s.cmd.Process.Pid, syscall.SIGSTOP)
}

// Resume undoes Pause.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pid := range s.paused {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	s.paused = nil
}

func (s *Server) shutdown() {
	s.mu.Lock()
	s.killLocked()
	s.mu.Unlock()
	if s.t.Failed() {
		s.t.Logf("sshdtest: sshd log for %s:\n%s", s.Addr, s.log.String())
	}
}

// start runs sshd and waits until its port accepts connections.
func (s *Server) start() error {
	cmd := exec.Command(s.sshd, "-D", "-e", "-f", s.ConfigPath)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// A descendant that escaped the kill must not keep Wait blocked on the
	// log pipe.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.sshd, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("sshd exited during startup: %v", cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.killLocked()
	s.mu.Unlock()
	return fmt.Errorf("sshd did not accept connections on %s within 10s", s.Addr)
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	// Freeze the tree first so nobody forks while we collect it, then kill.
	for _, p := range signalTree(pid, syscall.SIGSTOP) {
		_ = syscall.Kill(p, syscall.SIGKILL)
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	<-s.exited
	s.cmd, s.exited, s.paused = nil, nil, nil
}

func (s *Server) writeConfig(hostKey, authKeys string, opts Options) error {
	lines := []string{
		"ListenAddress " + s.Addr,
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authKeys,
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"PermitRootLogin yes",
		"StrictModes no",
		"UsePAM no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"X11Forwarding no",
		"AllowTcpForwarding no",
		"PrintMotd no",
		"UseDNS no",
		"LogLevel VERBOSE",
	}
	env := map[string]string{"SHLVL": "1"}
	for k, v := range opts.Env {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// sshd uses only the first SetEnv line, so all variables go on one.
	setenv := "SetEnv"
	for _, k := range keys {
		v := env[k]
		if strings.ContainsAny(k+v, "\"\n") || strings.ContainsAny(k, " =") {
			return fmt.Errorf("environment variable %q=%q cannot be written to sshd_config", k, v)
		}
		setenv += fmt.Sprintf(" \"%s=%s\"", k, v)
	}
	lines = append(lines, setenv)
	lines = append(lines, opts.ExtraConfig...)
	cfg := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(s.ConfigPath, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", s.ConfigPath, err)
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s\n", s.Port, s.HostKeyLine())
	if err := os.WriteFile(s.KnownHostsPath, []byte(known), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", s.KnownHostsPath, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DropConnections kills every open connection (sshd's process for it and
// the remote commands under it) while sshd itself keeps listening, as a
// network fault that cuts connections mid-transfer. It returns how many
// connections it cut.
func (s *Server) DropConnections() int {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	root := s.cmd.Process.Pid
	n := 0
	for pid, ppid := range parentMap() {
		if ppid != root {
			continue
		}
		for _, p := range signalTree(pid, syscall.SIGSTOP) {
			_ = syscall.Kill(p, syscall.SIGKILL)
			_ = syscall.Kill(p, syscall.SIGCONT)
		}
		n++
	}
	return n
}
