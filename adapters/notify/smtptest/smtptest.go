// Package smtptest starts a real SMTP server for tests: Debian's
// python3-aiosmtpd on a loopback port, storing what it receives in a
// Maildir the test reads (test/install-deps.sh installs it).
package smtptest

import (
	"cmp"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// python is Debian's interpreter, which python3-aiosmtpd installs into.
const python = "/usr/bin/python3"

// Server is a running aiosmtpd.
type Server struct {
	// Addr is host:port.
	Addr    string
	maildir string
}

// Start runs aiosmtpd until the test ends. The test is skipped when
// python3-aiosmtpd is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, func(addr, maildir string) *exec.Cmd {
		return exec.Command(python, "-m", "aiosmtpd", "-n", "-l", addr, "-c", "aiosmtpd.handlers.Mailbox", maildir)
	})
}

// withAuth runs aiosmtpd's Controller with AUTH required (PLAIN and
// LOGIN, over plain text: the server is on loopback), accepting the
// login and password of SMTPTEST_USER and SMTPTEST_PASSWORD.
const withAuth = `
import os, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
host, port, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
user, password = os.environ["SMTPTEST_USER"].encode(), os.environ["SMTPTEST_PASSWORD"].encode()
def check(server, session, envelope, mechanism, data):
    return AuthResult(success=isinstance(data, LoginPassword) and data.login == user and data.password == password, handled=False)
Controller(Mailbox(maildir), hostname=host, port=port, authenticator=check,
           auth_required=True, auth_require_tls=False).start()
threading.Event().wait()
`

// StartWithAuth runs aiosmtpd requiring SMTP authentication as user with
// password: mail from a client that does not authenticate is refused.
func StartWithAuth(t testing.TB, user, password string) *Server {
	t.Helper()
	return start(t, func(addr, maildir string) *exec.Cmd {
		host, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(python, "-c", withAuth, host, port, maildir)
		cmd.Env = append(os.Environ(), "SMTPTEST_USER="+user, "SMTPTEST_PASSWORD="+password)
		return cmd
	})
}

func start(t testing.TB, command func(addr, maildir string) *exec.Cmd) *Server {
	t.Helper()
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("python3-aiosmtpd is not installed (test/install-deps.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, maildir: filepath.Join(t.TempDir(), "maildir")}
	cmd := command(addr, s.maildir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("smtptest: start aiosmtpd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("smtptest: aiosmtpd exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Messages returns the messages received, in the order they came.
// Python's Maildir names a file time.M<microseconds>P<pid>Q<count>.host,
// with the microseconds not zero-padded, so names do not sort by time
// within a second; the count does, as one aiosmtpd process writes them
// all.
func (s *Server) Messages(t testing.TB) []*mail.Message {
	t.Helper()
	dir := filepath.Join(s.maildir, "new")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(deliveryCount(a), deliveryCount(b)), strings.Compare(a, b))
	})
	var out []*mail.Message
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		t.Cleanup(func() { f.Close() })
	}
	return out
}

// deliveryCount is the Q<count> of a Maildir file name, or -1.
func deliveryCount(name string) int {
	_, rest, ok := strings.Cut(name, "Q")
	if !ok {
		return -1
	}
	digits, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(digits)
	if err != nil {
		return -1
	}
	return n
}
