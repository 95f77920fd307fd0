package machinesfile

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"buildledger/events"
)

// MaxFileBytes is the largest machines file Parse reads.
const MaxFileBytes = 1 << 20

// LineError is an error in one line of a machines file.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	Err  error
}

// Error returns "line N: …".
func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error {
	return e.Err
}

// Parse reads a machines file. A machine without systems (field missing or
// "-") gets localSystem, as Nix gives it the local platform; maxJobs and
// speedFactor default to 1. Every machine is enabled.
//
// Parse returns the machines of the good lines and, joined, a *LineError
// for every bad one (unknown scheme, bad number, duplicate name, …).
func Parse(r io.Reader, localSystem string) ([]Machine, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read machines file: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("read machines file: larger than %d bytes", MaxFileBytes)
	}
	var (
		ms     []Machine
		errs   []error
		seenAt = map[string]int{}
	)
	for i, line := range strings.Split(string(data), "\n") {
		no := i + 1
		line, _, _ = strings.Cut(line, "#")
		for entry := range strings.SplitSeq(line, ";") {
			if strings.TrimFunc(entry, isSpace) == "" {
				continue
			}
			m, err := parseEntry(entry, localSystem)
			if err != nil {
				errs = append(errs, &LineError{Line: no, Err: err})
				continue
			}
			if first, dup := seenAt[m.Name]; dup {
				errs = append(errs, &LineError{Line: no, Err: fmt.Errorf("machine %q already defined on line %d", m.Name, first)})
				continue
			}
			seenAt[m.Name] = no
			ms = append(ms, m)
		}
	}
	return ms, errors.Join(errs...)
}

// parseEntry parses the fields of one machine.
func parseEntry(entry, localSystem string) (Machine, error) {
	f := strings.FieldsFunc(entry, isSpace)
	if len(f) > 8 {
		return Machine{}, fmt.Errorf("%d fields, a machine has at most 8", len(f))
	}
	// set reports whether field n is present and not "-".
	set := func(n int) bool { return len(f) > n && f[n] != "-" }
	uri, name, err := ParseURI(f[0])
	if err != nil {
		return Machine{}, err
	}
	m := Machine{Name: name, MachineConfig: events.MachineConfig{
		URI: uri, MaxJobs: 1, SpeedFactor: 1, Enabled: true,
	}}
	var errs []error
	switch {
	case set(1):
		m.Systems = splitList(f[1])
	case localSystem != "":
		m.Systems = []string{localSystem}
	}
	if len(m.Systems) == 0 {
		errs = append(errs, errors.New("no systems, and no local system to default to"))
	}
	if set(2) {
		m.SSHKey = f[2]
	}
	if set(3) {
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("maxJobs %q is not a number ≥ 0", f[3]))
		}
		m.MaxJobs = n
	}
	if set(4) {
		v, err := strconv.ParseFloat(f[4], 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || v <= 0 {
			errs = append(errs, fmt.Errorf("speedFactor %q is not a number > 0", f[4]))
		}
		m.SpeedFactor = v
	}
	if set(5) {
		m.SupportedFeatures = splitList(f[5])
	}
	if set(6) {
		m.MandatoryFeatures = splitList(f[6])
	}
	if set(7) {
		if _, err := base64.StdEncoding.DecodeString(f[7]); err != nil {
			errs = append(errs, fmt.Errorf("public host key is not base64: %w", err))
		}
		m.PublicHostKey = f[7]
	}
	if err := errors.Join(errs...); err != nil {
		return Machine{}, fmt.Errorf("machine %s: %w", uri, err)
	}
	return m, nil
}

// splitList splits a comma-separated list, dropping empty items as Nix
// does, and "-" items, which could not be written back; nil for an empty
// list.
func splitList(s string) []string {
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it != "" && it != "-" {
			out = append(out, it)
		}
	}
	return out
}
