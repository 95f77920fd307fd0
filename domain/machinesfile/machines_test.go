package machinesfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/machinesfile"
	"buildledger/events"
)

const hostKey = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUlrbnhNS0p5R3o0WUQ1NGxNWkxVRGNzRWNhRDRtM3ZQN1lzdUtOQjVpZjAK"

func TestParseURI(t *testing.T) {
	tests := []struct {
		in, normal, name string
		err              string
	}{
		{"localhost", "localhost", "localhost", ""},
		{"ssh://builder.example.org", "ssh://builder.example.org", "builder.example.org", ""},
		{"ssh://nix@builder", "ssh://nix@builder", "builder", ""},
		{"ssh://nix@builder:2222", "ssh://nix@builder:2222", "builder-2222", ""},
		{"ssh://root@[fe80::1]:22", "ssh://root@[fe80::1]:22", "fe80..1-22", ""},
		{"ssh://10.0.0.7", "ssh://10.0.0.7", "10.0.0.7", ""},
		{"nix@builder", "ssh://nix@builder", "builder", ""},
		{"builder", "ssh://builder", "builder", ""},
		{"ssh-ng://nix@builder", "", "", "ssh-ng is not supported yet"},
		{"http://builder", "", "", `unknown scheme "http"`},
		{"s3://bucket", "", "", `unknown scheme "s3"`},
		{"daemon", "", "", "not a build machine"},
		{"/nix/store", "", "", "not a build machine"},
		{"ssh://", "", "", "no host"},
		{"ssh://user@", "", "", "no host"},
		{"ssh://host/path", "", "", "not supported"},
		{"ssh://host?remote-store=/x", "", "", "not supported"},
		{"ssh://u:pw@host", "", "", "passwords"},
		{"ssh://host:0", "", "", "out of range"},
		{"ssh://host:70000", "", "", "out of range"},
		{"ssh://-oProxyCommand=x", "", "", "starts with '-'"},
		{"ssh://-u@host", "", "", "starts with '-'"},
		{"ssh://ho%20st", "", "", "invalid URL escape"},
		{"ssh://ho_st!", "", "", "characters outside"},
		{"ssh://[zz::1]", "", "", "invalid host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			normal, name, err := machinesfile.ParseURI(tt.in)
			if tt.normal == "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.normal, normal)
			require.Equal(t, tt.name, name)
		})
	}
}

func TestParse(t *testing.T) {
	in := `# build machines
localhost x86_64-linux,builtin - 4 1 kvm,nixos-test - -

ssh://nix@big:2222 x86_64-linux,i686-linux /etc/keys/id_ed25519 16 2.5 kvm,big-parallel benchmark ` + hostKey + `  # comment
  aarch@arm   aarch64-linux	-	2
bare ; ssh://other - - - 0.5
`
	ms, err := machinesfile.Parse(strings.NewReader(in), "x86_64-linux")
	require.NoError(t, err)
	require.Equal(t, []machinesfile.Machine{
		{Name: "localhost", MachineConfig: events.MachineConfig{
			URI: "localhost", Systems: []string{"x86_64-linux", "builtin"}, MaxJobs: 4, SpeedFactor: 1,
			SupportedFeatures: []string{"kvm", "nixos-test"}, Enabled: true}},
		{Name: "big-2222", MachineConfig: events.MachineConfig{
			URI: "ssh://nix@big:2222", Systems: []string{"x86_64-linux", "i686-linux"}, SSHKey: "/etc/keys/id_ed25519",
			MaxJobs: 16, SpeedFactor: 2.5, SupportedFeatures: []string{"kvm", "big-parallel"},
			MandatoryFeatures: []string{"benchmark"}, PublicHostKey: hostKey, Enabled: true}},
		{Name: "arm", MachineConfig: events.MachineConfig{
			URI: "ssh://aarch@arm", Systems: []string{"aarch64-linux"}, MaxJobs: 2, SpeedFactor: 1, Enabled: true}},
		{Name: "bare", MachineConfig: events.MachineConfig{
			URI: "ssh://bare", Systems: []string{"x86_64-linux"}, MaxJobs: 1, SpeedFactor: 1, Enabled: true}},
		{Name: "other", MachineConfig: events.MachineConfig{
			URI: "ssh://other", Systems: []string{"x86_64-linux"}, MaxJobs: 1, SpeedFactor: 0.5, Enabled: true}},
	}, ms)
	for _, m := range ms {
		require.NoError(t, machinesfile.Validate(m), m.Name)
	}
}

func TestParseErrors(t *testing.T) {
	in := strings.Join([]string{
		"ssh://good x86_64-linux",            // 1
		"ssh-ng://b x86_64-linux",            // 2
		"ftp://c x86_64-linux",               // 3
		"ssh://d x86_64-linux - many",        // 4
		"ssh://e x86_64-linux - 1 0",         // 5
		"ssh://f x86_64-linux - 1 1 - - !!!", // 6
		"ssh://g a b c d e f g h",            // 7
		"ssh://good aarch64-linux",           // 8
		"ssh://h x86_64-linux - -1 nan",      // 9
		"ssh://i",                            // 10: no local system
		"ssh://j i686-linux - 3",             // 11
	}, "\n")
	ms, err := machinesfile.Parse(strings.NewReader(in), "")
	require.Error(t, err)
	require.Len(t, ms, 2)
	require.Equal(t, "good", ms[0].Name)
	require.Equal(t, "j", ms[1].Name)

	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *machinesfile.LineError
		require.True(t, errors.As(e, &le))
		lines = append(lines, le.Line)
	}
	require.Equal(t, []int{2, 3, 4, 5, 6, 7, 8, 9, 10}, lines)
	msg := err.Error()
	for _, want := range []string{
		"line 2: machine URI \"ssh-ng://b\": scheme ssh-ng is not supported yet",
		`line 3: machine URI "ftp://c": unknown scheme "ftp"`,
		`line 4: machine ssh://d: maxJobs "many"`,
		`line 5: machine ssh://e: speedFactor "0"`,
		"line 6: machine ssh://f: public host key is not base64",
		"line 7: 9 fields",
		`line 8: machine "good" already defined on line 1`,
		`maxJobs "-1"`, `speedFactor "nan"`,
		"line 10: machine ssh://i: no systems",
	} {
		require.Contains(t, msg, want)
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := machinesfile.Parse(strings.NewReader(strings.Repeat("#", machinesfile.MaxFileBytes+1)), "x86_64-linux")
	require.ErrorContains(t, err, "larger than")
	ms, err := machinesfile.Parse(strings.NewReader(strings.Repeat("#", machinesfile.MaxFileBytes)), "x86_64-linux")
	require.NoError(t, err)
	require.Empty(t, ms)
}

func TestFormatRoundTrip(t *testing.T) {
	in := `localhost x86_64-linux,builtin - 4 1 kvm,nixos-test
ssh://nix@big:2222 x86_64-linux /etc/keys/id 16 2.5 big-parallel benchmark ` + hostKey + `
ssh://root@[fe80::1]:22 aarch64-linux - 0 0.25
`
	ms, err := machinesfile.Parse(strings.NewReader(in), "x86_64-linux")
	require.NoError(t, err)
	text := machinesfile.Format(ms)
	require.Equal(t, `localhost x86_64-linux,builtin - 4 1 kvm,nixos-test - -
ssh://nix@big:2222 x86_64-linux /etc/keys/id 16 2.5 big-parallel benchmark `+hostKey+`
ssh://root@[fe80::1]:22 aarch64-linux - 0 0.25 - - -
`, text)
	again, err := machinesfile.Parse(strings.NewReader(text), "other-system")
	require.NoError(t, err)
	require.Equal(t, ms, again)
	require.Equal(t, text, machinesfile.Format(again))
}

func TestValidate(t *testing.T) {
	good := machinesfile.Machine{Name: "b", MachineConfig: events.MachineConfig{
		URI: "ssh://b", Systems: []string{"x86_64-linux"}, MaxJobs: 1, SpeedFactor: 1}}
	require.NoError(t, machinesfile.Validate(good))
	tests := []struct {
		name   string
		change func(m *machinesfile.Machine)
		err    string
	}{
		{"bad uri", func(m *machinesfile.Machine) { m.URI = "ssh-ng://b" }, "ssh-ng"},
		{"not normal", func(m *machinesfile.Machine) { m.URI = "b" }, "normal form"},
		{"wrong name", func(m *machinesfile.Machine) { m.Name = "c" }, "does not match"},
		{"no systems", func(m *machinesfile.Machine) { m.Systems = nil }, "no systems"},
		{"space in system", func(m *machinesfile.Machine) { m.Systems = []string{"x y"} }, "white space"},
		{"comma in feature", func(m *machinesfile.Machine) { m.SupportedFeatures = []string{"a,b"} }, "','"},
		{"empty feature", func(m *machinesfile.Machine) { m.MandatoryFeatures = []string{""} }, "empty mandatory feature"},
		{"dash key", func(m *machinesfile.Machine) { m.SSHKey = "-" }, "means empty"},
		{"hash key", func(m *machinesfile.Machine) { m.SSHKey = "/k#1" }, "'#'"},
		{"negative jobs", func(m *machinesfile.Machine) { m.MaxJobs = -1 }, "negative"},
		{"zero speed", func(m *machinesfile.Machine) { m.SpeedFactor = 0 }, "speed factor"},
		{"bad host key", func(m *machinesfile.Machine) { m.PublicHostKey = "not base64!" }, "base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good
			m.Systems = append([]string(nil), good.Systems...)
			tt.change(&m)
			require.ErrorContains(t, machinesfile.Validate(m), tt.err)
		})
	}
}
