package ssh

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os/user"
	"strings"
	"time"
)

// Defaults used when the corresponding Target field is zero.
const (
	DefaultDialTimeout       = 10 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultKeepAliveCountMax = 3
)

// Target says how to reach and trust one build machine.
type Target struct {
	// URI is the machine's store URI, "ssh://[user@]host[:port]". Without a
	// user the current user's name is used; without a port, 22.
	URI string
	// KeyFile is the path of the unencrypted private key to log in with.
	KeyFile string
	// HostKey pins the machine's host key. It is either the base64 of the
	// key's wire format (the second field of a known_hosts line), the
	// base64 of an authorized_keys style line (the last column of a Nix
	// machines file), or such a line itself ("ssh-ed25519 AAAA...").
	// Exactly one of HostKey and KnownHostsFile must be set.
	HostKey string
	// KnownHostsFile is the path of an OpenSSH known_hosts file that must
	// list the machine's host key.
	KnownHostsFile string
	// DialTimeout bounds the TCP connect plus the SSH handshake; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// KeepAliveInterval is how often a keepalive@openssh.com request is
	// sent; zero means DefaultKeepAliveInterval, negative disables
	// keepalives.
	KeepAliveInterval time.Duration
	// KeepAliveCountMax is how many intervals may pass without a reply
	// before the connection is closed; zero means DefaultKeepAliveCountMax.
	KeepAliveCountMax int
	// Logger receives connection events; nil means slog.Default().
	Logger *slog.Logger
}

// endpoint is a parsed ssh:// URI.
type endpoint struct {
	user string
	addr string // host:port, suitable for net.Dial and known_hosts lookup
}

// parseURI parses "ssh://[user@]host[:port]".
func parseURI(uri string) (endpoint, error) {
	if !strings.Contains(uri, "://") {
		return endpoint{}, fmt.Errorf("machine URI %q has no scheme: want ssh://[user@]host[:port]", uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return endpoint{}, fmt.Errorf("parse machine URI %q: %w", uri, err)
	}
	if u.Scheme != "ssh" {
		return endpoint{}, fmt.Errorf("unsupported scheme %q in machine URI %q: want ssh://[user@]host[:port]", u.Scheme, uri)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return endpoint{}, fmt.Errorf("machine URI %q has no host: want ssh://[user@]host[:port]", uri)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("machine URI %q: path, query and fragment are not supported", uri)
	}
	if !validHost(u.Hostname()) {
		return endpoint{}, fmt.Errorf("machine URI %q: invalid host %q", uri, u.Hostname())
	}
	name := u.User.Username()
	if name == "" {
		cur, err := user.Current()
		if err != nil {
			return endpoint{}, fmt.Errorf("machine URI %q has no user and the current user is unknown: %w", uri, err)
		}
		name = cur.Username
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	return endpoint{user: name, addr: net.JoinHostPort(u.Hostname(), port)}, nil
}

// validHost reports whether h looks like a DNS name or an IP address:
// letters, digits, '.', '-', '_' and (for IPv6) ':'.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '.', r == '-', r == '_', r == ':':
		default:
			return false
		}
	}
	return true
}
