package machinesfile_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"buildledger/domain/machinesfile"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"localhost x86_64-linux,builtin - 4 1 kvm,nixos-test - -\n",
		"ssh://nix@big:2222 x86_64-linux /k 16 2.5 kvm benchmark " + hostKey + " # c\n",
		"nix@arm aarch64-linux\t-\t2\n; bare ; ssh://other - - - 0.5\n",
		"ssh-ng://x\nftp://y\nssh://[::1]:22 - - -1 nan\n",
		"ssh://a a,,b - 1 1e308 ,, ,\n#only\n\n",
		"ssh://good x\nssh://good y\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := machinesfile.Parse(bytes.NewReader(data), "x86_64-linux")
		lines := bytes.Count(data, []byte("\n")) + 1
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var le *machinesfile.LineError
				if !errors.As(e, &le) || le.Line < 1 || le.Line > lines {
					t.Fatalf("error %v is not a LineError within %d lines", e, lines)
				}
			}
		}
		for _, m := range ms {
			if err := machinesfile.Validate(m); err != nil {
				t.Fatalf("parsed machine %+v does not validate: %v", m, err)
			}
			if !m.Enabled {
				t.Fatalf("machine %q not enabled", m.Name)
			}
		}
		text := machinesfile.Format(ms)
		again, err := machinesfile.Parse(strings.NewReader(text), "other")
		if err != nil {
			t.Fatalf("re-reading %q: %v", text, err)
		}
		if len(again) != len(ms) {
			t.Fatalf("re-read %d machines, want %d", len(again), len(ms))
		}
		for i := range ms {
			a, b := again[i], ms[i]
			if a.Name != b.Name || a.URI != b.URI || strings.Join(a.Systems, ",") != strings.Join(b.Systems, ",") ||
				a.SSHKey != b.SSHKey || a.MaxJobs != b.MaxJobs || a.SpeedFactor != b.SpeedFactor ||
				strings.Join(a.SupportedFeatures, ",") != strings.Join(b.SupportedFeatures, ",") ||
				strings.Join(a.MandatoryFeatures, ",") != strings.Join(b.MandatoryFeatures, ",") ||
				a.PublicHostKey != b.PublicHostKey {
				t.Fatalf("re-read %+v, want %+v", a, b)
			}
		}
	})
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"localhost", "ssh://nix@builder:2222", "nix@builder", "ssh-ng://x", "http://x",
		"ssh://root@[fe80::1%25eth0]:22", "ssh://-o", "daemon", "ssh://a?b#c", "ssh://[::1]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		normal, name, err := machinesfile.ParseURI(uri)
		if err != nil {
			return
		}
		n2, name2, err := machinesfile.ParseURI(normal)
		if err != nil || n2 != normal || name2 != name {
			t.Fatalf("%q → %q %q, then %q %q %v", uri, normal, name, n2, name2, err)
		}
		if name == "" || strings.ContainsAny(name, " \t\n/#;,") || strings.HasPrefix(name, "-") {
			t.Fatalf("bad name %q from %q", name, uri)
		}
	})
}
