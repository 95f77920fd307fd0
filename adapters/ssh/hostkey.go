package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError reports a host key that the Target does not trust.
type HostKeyError struct {
	// Host is the address dialled, "host:port".
	Host string
	// Offered is the SHA256 fingerprint of the key the server presented.
	Offered string
	// OfferedType is its algorithm, e.g. "ssh-ed25519".
	OfferedType string
	// Want lists the fingerprints of the keys that would have been
	// accepted; it is empty when the host is unknown.
	Want []string
	// Source is where the trusted keys came from: "pinned host key" or
	// "known_hosts file <path>".
	Source string
}

// Error describes the mismatch with host and fingerprints.
func (e *HostKeyError) Error() string {
	if len(e.Want) == 0 {
		return fmt.Sprintf("host %s is unknown to %s: it offered %s key %s", e.Host, e.Source, e.OfferedType, e.Offered)
	}
	return fmt.Sprintf("host key mismatch for %s: it offered %s key %s, but %s expects %s (host key changed or wrong machine)",
		e.Host, e.OfferedType, e.Offered, e.Source, strings.Join(e.Want, ", "))
}

// hostKeyPolicy is a host key callback plus the algorithms to ask for, so
// that a server with several host keys presents the one we can check.
type hostKeyPolicy struct {
	callback   gossh.HostKeyCallback
	algorithms []string
}

// newHostKeyPolicy builds the policy from the Target's HostKey or
// KnownHostsFile; addr is the "host:port" that will be dialled.
func newHostKeyPolicy(t Target, addr string) (hostKeyPolicy, error) {
	switch {
	case t.HostKey != "" && t.KnownHostsFile != "":
		return hostKeyPolicy{}, errors.New("both a pinned host key and a known_hosts file are set: choose one")
	case t.HostKey != "":
		return pinnedPolicy(t.HostKey)
	case t.KnownHostsFile != "":
		return knownHostsPolicy(t.KnownHostsFile, addr)
	default:
		return hostKeyPolicy{}, errors.New("no host key policy: set a pinned host key or a known_hosts file")
	}
}

// ParseHostKey parses a pinned host key in any of the forms Target.HostKey
// accepts.
func ParseHostKey(s string) (gossh.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("parse host key: empty")
	}
	if strings.ContainsAny(s, " \t") {
		key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("parse host key line %q: %w", s, err)
		}
		return key, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("parse host key %q: not base64 nor an authorized_keys line: %w", s, err)
	}
	if key, err := gossh.ParsePublicKey(raw); err == nil {
		return key, nil
	}
	// Nix machines files carry base64("ssh-ed25519 AAAA... comment").
	key, _, _, _, err := gossh.ParseAuthorizedKey(raw)
	if err != nil {
		return nil, fmt.Errorf("parse host key %q: base64 of neither a wire-format key nor an authorized_keys line", s)
	}
	return key, nil
}

func pinnedPolicy(s string) (hostKeyPolicy, error) {
	want, err := ParseHostKey(s)
	if err != nil {
		return hostKeyPolicy{}, err
	}
	wantFP := gossh.FingerprintSHA256(want)
	cb := func(host string, _ net.Addr, key gossh.PublicKey) error {
		if bytes.Equal(key.Marshal(), want.Marshal()) {
			return nil
		}
		return &HostKeyError{
			Host:        host,
			Offered:     gossh.FingerprintSHA256(key),
			OfferedType: key.Type(),
			Want:        []string{wantFP},
			Source:      "pinned host key",
		}
	}
	return hostKeyPolicy{callback: cb, algorithms: algorithmsFor([]string{want.Type()})}, nil
}

func knownHostsPolicy(path, addr string) (hostKeyPolicy, error) {
	check, err := knownhosts.New(path)
	if err != nil {
		return hostKeyPolicy{}, fmt.Errorf("read known_hosts %s: %w", path, err)
	}
	cb := func(host string, remote net.Addr, key gossh.PublicKey) error {
		err := check(host, remote, key)
		var keyErr *knownhosts.KeyError
		if errors.As(err, &keyErr) {
			he := &HostKeyError{
				Host:        host,
				Offered:     gossh.FingerprintSHA256(key),
				OfferedType: key.Type(),
				Source:      "known_hosts file " + path,
			}
			for _, k := range keyErr.Want {
				he.Want = append(he.Want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), gossh.FingerprintSHA256(k.Key), k.Filename, k.Line))
			}
			return he
		}
		if err != nil {
			return fmt.Errorf("check host key of %s against %s: %w", host, path, err)
		}
		return nil
	}
	return hostKeyPolicy{callback: cb, algorithms: algorithmsFor(knownTypes(check, addr))}, nil
}

// knownTypes returns the key types known_hosts lists for addr, found by
// offering a throwaway key and reading the mismatch report.
func knownTypes(check gossh.HostKeyCallback, addr string) []string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := gossh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	remote := &net.TCPAddr{IP: net.IPv4zero}
	var keyErr *knownhosts.KeyError
	if !errors.As(check(addr, remote, probe), &keyErr) {
		return nil
	}
	var types []string
	for _, k := range keyErr.Want {
		types = append(types, k.Key.Type())
	}
	return types
}

// algorithmsFor maps key types to the host key algorithms to negotiate;
// nil (no preference) when types is empty.
func algorithmsFor(types []string) []string {
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, t := range types {
		if t == gossh.KeyAlgoRSA {
			add(gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
			continue
		}
		add(t)
	}
	return algos
}
