package machinesfile

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"

	"buildledger/events"
)

// Machine is one build machine of a machines file: a name for its stream
// (machine-<name>) and its configuration.
type Machine struct {
	// Name is derived from the URI: host[:port], or "localhost".
	Name string
	events.MachineConfig
}

// Localhost is the URI (and name) of the machine Hydra runs on.
const Localhost = "localhost"

// ParseURI checks a machine URI and returns its normal form and the
// machine's name. Accepted are "localhost", ssh://[user@]host[:port] and
// a bare [user@]host, which means ssh. ssh-ng is refused for now, and any
// other scheme, path, query or fragment is an error.
func ParseURI(uri string) (normal, name string, err error) {
	if uri == Localhost {
		return Localhost, Localhost, nil
	}
	scheme, rest, hasScheme := strings.Cut(uri, "://")
	switch {
	case !hasScheme:
		if strings.Contains(uri, "/") {
			return "", "", fmt.Errorf("machine URI %q: a store path or local store is not a build machine", uri)
		}
		switch uri {
		case "auto", "daemon", "local":
			return "", "", fmt.Errorf("machine URI %q: store %q is not a build machine", uri, uri)
		}
		rest = uri
	case scheme == "ssh-ng":
		return "", "", fmt.Errorf("machine URI %q: scheme ssh-ng is not supported yet, use ssh://", uri)
	case scheme != "ssh":
		return "", "", fmt.Errorf("machine URI %q: unknown scheme %q, want ssh://", uri, scheme)
	}
	u, err := url.Parse("ssh://" + rest)
	if err != nil {
		return "", "", fmt.Errorf("machine URI %q: %w", uri, err)
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return "", "", fmt.Errorf("machine URI %q: no host", uri)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(rest, "?#"):
		return "", "", fmt.Errorf("machine URI %q: paths, queries and fragments are not supported", uri)
	case u.User != nil:
		if _, hasPassword := u.User.Password(); hasPassword {
			return "", "", fmt.Errorf("machine URI %q: passwords are not supported, use an SSH key", uri)
		}
		if u.User.Username() == "" {
			return "", "", fmt.Errorf("machine URI %q: empty user name", uri)
		}
	}
	if err := checkHost(u.Hostname()); err != nil {
		return "", "", fmt.Errorf("machine URI %q: %w", uri, err)
	}
	if u.User != nil && !isPlainName(u.User.Username()) {
		return "", "", fmt.Errorf("machine URI %q: user name %q has characters outside [a-zA-Z0-9._-] or starts with '-'", uri, u.User.Username())
	}
	if p := u.Port(); p != "" {
		if err := checkPort(p); err != nil {
			return "", "", fmt.Errorf("machine URI %q: %w", uri, err)
		}
	}
	// The name becomes a stream name and a machine aggregate name, which
	// allow no colon: host, or host-port (an IPv6 address's colons become
	// dots).
	name = strings.Trim(strings.ReplaceAll(u.Hostname(), ":", "."), ".")
	if p := u.Port(); p != "" {
		name += "-" + p
	}
	return u.String(), name, nil
}

// checkHost accepts a DNS-style host name or an IP address.
func checkHost(h string) error {
	if strings.Contains(h, ":") {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("bad IPv6 address %q", h)
		}
		return nil
	}
	if !isPlainName(h) {
		return fmt.Errorf("host %q has characters outside [a-zA-Z0-9._-] or starts with '-'", h)
	}
	return nil
}

// isPlainName reports whether s is a non-empty string of [a-zA-Z0-9._-]
// not starting with '-' (which ssh would take for an option).
func isPlainName(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for _, c := range s {
		ok := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkPort(p string) error {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return fmt.Errorf("bad port %q", p)
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return fmt.Errorf("port %s out of range", p)
		}
	}
	if n == 0 {
		return fmt.Errorf("port %s out of range", p)
	}
	return nil
}

// Validate checks that m can be written to a machines file and read back:
// a valid URI in normal form with its derived name, at least one system,
// no white space, ',' '#' or ';' inside a field, maxJobs ≥ 0, a finite
// speed factor > 0 and a base64 host key.
func Validate(m Machine) error {
	normal, name, err := ParseURI(m.URI)
	if err != nil {
		return err
	}
	var errs []error
	if normal != m.URI {
		errs = append(errs, fmt.Errorf("URI %q is not in normal form %q", m.URI, normal))
	}
	if name != m.Name {
		errs = append(errs, fmt.Errorf("name %q does not match URI %q (want %q)", m.Name, m.URI, name))
	}
	if len(m.Systems) == 0 {
		errs = append(errs, errors.New("no systems"))
	}
	errs = append(errs, checkList("system", m.Systems))
	errs = append(errs, checkField("SSH key", m.SSHKey, false))
	if m.MaxJobs < 0 {
		errs = append(errs, fmt.Errorf("maxJobs %d is negative", m.MaxJobs))
	}
	if math.IsNaN(m.SpeedFactor) || math.IsInf(m.SpeedFactor, 0) || m.SpeedFactor <= 0 {
		errs = append(errs, fmt.Errorf("speed factor %v is not a positive number", m.SpeedFactor))
	}
	errs = append(errs, checkList("supported feature", m.SupportedFeatures))
	errs = append(errs, checkList("mandatory feature", m.MandatoryFeatures))
	if m.PublicHostKey != "" {
		if _, err := base64.StdEncoding.DecodeString(m.PublicHostKey); err != nil {
			errs = append(errs, fmt.Errorf("public host key is not base64: %w", err))
		}
	}
	return errors.Join(errs...)
}

func checkList(what string, items []string) error {
	var errs []error
	for _, it := range items {
		errs = append(errs, checkField(what, it, true))
	}
	return errors.Join(errs...)
}

// checkField rejects a value a machines file cannot carry: white space,
// '#', ';', a lone "-", and ',' inside a list item. Empty items of a list
// are refused too.
func checkField(what, v string, listItem bool) error {
	switch {
	case listItem && v == "":
		return fmt.Errorf("empty %s", what)
	case v == "-":
		return fmt.Errorf("%s %q cannot be written (it means empty)", what, v)
	case strings.ContainsFunc(v, isSpace) || strings.ContainsAny(v, "#;"):
		return fmt.Errorf("%s %q contains white space, '#' or ';'", what, v)
	case listItem && strings.Contains(v, ","):
		return fmt.Errorf("%s %q contains ','", what, v)
	}
	return nil
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
