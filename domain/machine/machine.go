// Package machine is the Machine aggregate: a build machine as a Nix
// machines-file line describes it, folded from the machine-<name> stream.
package machine

import (
	"encoding/base64"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/events"
)

// Localhost is the URI of the local builder.
const Localhost = "localhost"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]*$`)

// State is a machine as its stream tells it.
type State struct {
	// Exists is true between MachineRegistered and MachineRemoved.
	Exists bool
	Name   string
	Config events.MachineConfig
}

// Evolve folds one event of the machine's stream into s. Payloads are
// pointers, as the codec decodes them; other event types leave s unchanged.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.MachineRegistered:
		return State{Exists: true, Name: e.Name, Config: cloneConfig(e.MachineConfig)}
	case *events.MachineUpdated:
		s.Config = cloneConfig(e.MachineConfig)
	case *events.MachineRemoved:
		return State{Name: s.Name}
	}
	return s
}

// Command is one of Register, Update, Remove.
type Command interface{ machineCommand() }

// Register adds a build machine.
type Register struct {
	Name   string
	Config events.MachineConfig
}

// Update replaces a machine's configuration.
type Update struct {
	Name   string
	Config events.MachineConfig
}

// Remove takes a machine out of service.
type Remove struct {
	Name string
}

func (Register) machineCommand() {}
func (Update) machineCommand()   {}
func (Remove) machineCommand()   {}

// Decide returns the events that carry out cmd on s, or an error wrapping
// domainerr.ErrAlreadyExists, ErrNotFound or ErrInvalid. An Update that
// changes nothing returns no events.
func Decide(s State, cmd Command) ([]events.Payload, error) {
	switch c := cmd.(type) {
	case Register:
		if err := ValidateName(c.Name); err != nil {
			return nil, err
		}
		cfg, err := Normalize(c.Config)
		if err != nil {
			return nil, err
		}
		if s.Exists {
			return nil, domainerr.AlreadyExists("machine", c.Name)
		}
		return []events.Payload{&events.MachineRegistered{Name: c.Name, MachineConfig: cfg}}, nil
	case Update:
		if !s.Exists {
			return nil, domainerr.NotFound("machine", c.Name)
		}
		cfg, err := Normalize(c.Config)
		if err != nil {
			return nil, err
		}
		if EqualConfig(cfg, s.Config) {
			return nil, nil
		}
		return []events.Payload{&events.MachineUpdated{Name: s.Name, MachineConfig: cfg}}, nil
	case Remove:
		if !s.Exists {
			return nil, domainerr.NotFound("machine", c.Name)
		}
		return []events.Payload{&events.MachineRemoved{Name: s.Name}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown machine command %T", cmd)
}

// ValidateName checks a machine name: a letter, digit or '_' followed by
// letters, digits, '_', '.', '@' or '-', at most names.MaxLen bytes.
func ValidateName(name string) error {
	if len(name) > names.MaxLen || !nameRE.MatchString(name) {
		return domainerr.Invalid("name", "invalid machine name %q", name)
	}
	return nil
}

// Normalize checks cfg and returns it with systems and features sorted and
// deduplicated. The URI is "localhost" or ssh://[user@]host[:port];
// MaxJobs >= 1; SpeedFactor > 0 and finite; at least one system.
func Normalize(cfg events.MachineConfig) (events.MachineConfig, error) {
	cfg.URI = strings.TrimSpace(cfg.URI)
	cfg.SSHKey = strings.TrimSpace(cfg.SSHKey)
	cfg.PublicHostKey = strings.TrimSpace(cfg.PublicHostKey)
	cfg.Store = strings.TrimSpace(cfg.Store)
	if err := checkURI(cfg.URI); err != nil {
		return cfg, err
	}
	switch {
	case cfg.MaxJobs < 1:
		return cfg, domainerr.Invalid("maxJobs", "must be at least 1, not %d", cfg.MaxJobs)
	case !(cfg.SpeedFactor > 0) || math.IsInf(cfg.SpeedFactor, 0):
		return cfg, domainerr.Invalid("speedFactor", "must be a positive number, not %v", cfg.SpeedFactor)
	case strings.ContainsAny(cfg.SSHKey, " \t\r\n"):
		return cfg, domainerr.Invalid("sshKey", "a key file path without whitespace, got %q", cfg.SSHKey)
	case strings.ContainsAny(cfg.Store, " \t\r\n"):
		return cfg, domainerr.Invalid("store", "a store URI without whitespace, got %q", cfg.Store)
	}
	if cfg.PublicHostKey != "" {
		if _, err := base64.StdEncoding.DecodeString(cfg.PublicHostKey); err != nil {
			return cfg, domainerr.Invalid("publicHostKey", "not base64: %v", err)
		}
	}
	var err error
	if cfg.Systems, err = tokens("systems", cfg.Systems, isSystem); err != nil {
		return cfg, err
	}
	if len(cfg.Systems) == 0 {
		return cfg, domainerr.Invalid("systems", "at least one system is required")
	}
	if cfg.SupportedFeatures, err = tokens("supportedFeatures", cfg.SupportedFeatures, isFeature); err != nil {
		return cfg, err
	}
	if cfg.MandatoryFeatures, err = tokens("mandatoryFeatures", cfg.MandatoryFeatures, isFeature); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func checkURI(uri string) error {
	if uri == Localhost {
		return nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return domainerr.Invalid("uri", "%v", err)
	}
	switch {
	case u.Scheme != "ssh":
		return domainerr.Invalid("uri", "%q: want ssh://[user@]host[:port] or localhost", uri)
	case u.Hostname() == "":
		return domainerr.Invalid("uri", "%q: no host", uri)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return domainerr.Invalid("uri", "%q: want no path, query or fragment", uri)
	}
	if _, set := u.User.Password(); set {
		return domainerr.Invalid("uri", "%q: passwords are not allowed, use an SSH key", uri)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return domainerr.Invalid("uri", "%q: bad port", uri)
		}
	}
	return nil
}

func isSystem(s string) bool { return s == "builtin" || names.System(s) }

func isFeature(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\r\n,") }

func tokens(field string, in []string, ok func(string) bool) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if !ok(s) {
			return nil, domainerr.Invalid(field, "invalid entry %q", s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func cloneConfig(c events.MachineConfig) events.MachineConfig {
	c.Systems = slices.Clone(c.Systems)
	c.SupportedFeatures = slices.Clone(c.SupportedFeatures)
	c.MandatoryFeatures = slices.Clone(c.MandatoryFeatures)
	return c
}

// EqualConfig reports whether a and b are the same configuration.
func EqualConfig(a, b events.MachineConfig) bool {
	return a.URI == b.URI && slices.Equal(a.Systems, b.Systems) && a.SSHKey == b.SSHKey &&
		a.MaxJobs == b.MaxJobs && a.SpeedFactor == b.SpeedFactor &&
		slices.Equal(a.SupportedFeatures, b.SupportedFeatures) &&
		slices.Equal(a.MandatoryFeatures, b.MandatoryFeatures) &&
		a.PublicHostKey == b.PublicHostKey && a.Store == b.Store && a.Enabled == b.Enabled
}
