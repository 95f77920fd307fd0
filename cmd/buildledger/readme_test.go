package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeCommandsMatchHelp: the README's table of commands names
// exactly the commands buildledger help prints, and each audit and events
// subcommand it names is in help's summary of the command and in its own
// usage.
func TestReadmeCommandsMatchHelp(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(raw), "| command | what it does |\n|---|---|\n")
	require.True(t, ok, "the README's table of commands")
	table, _, _ = strings.Cut(table, "\n\n")

	a := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	summary := map[string]string{}
	var help []string
	for _, c := range a.commands {
		summary[c.name] = c.summary
		help = append(help, c.name)
	}
	cell := regexp.MustCompile("`([a-z-]+)(?: ([a-z-]+(?:\\\\\\|[a-z-]+)*))?")
	var readme []string
	for _, row := range strings.Split(table, "\n") {
		first, _, _ := strings.Cut(strings.TrimPrefix(row, "| "), " | ")
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			name := m[1]
			if !slices.Contains(readme, name) {
				readme = append(readme, name)
			}
			if name != "audit" && name != "events" || m[2] == "" {
				continue
			}
			for _, sub := range strings.Split(m[2], `\|`) {
				require.Contains(t, summary[name], name+" "+sub, "help's summary of %s", name)
				if name == "audit" {
					require.Contains(t, auditUsage, "buildledger audit "+sub)
				}
			}
		}
	}
	slices.Sort(readme)
	slices.Sort(help)
	require.Equal(t, help, readme)
}
