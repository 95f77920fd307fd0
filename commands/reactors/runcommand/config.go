package runcommand

import (
	"fmt"
	"strings"

	"buildledger/domain/hydraconf"
	"buildledger/domain/runcommand"
)

// Command is one <runcommand> section of hydra.conf.
type Command struct {
	Matcher runcommand.Matcher
	Command string
}

// Config is what hydra.conf says about RunCommand.
type Config struct {
	// Commands are the <runcommand> sections that run on a finished
	// build.
	Commands []Command
	// Dynamic is <dynamicruncommand> enable: runCommandHook.* jobs run
	// where their project and jobset enable them too.
	Dynamic bool
}

// Enabled reports whether anything is to run, as Hydra's isEnabled.
func (c Config) Enabled() bool { return len(c.Commands) > 0 || c.Dynamic }

// ConfigFrom reads the kept sections of hydra.conf. A section without a
// command is an error (Hydra warns and skips it on every build); a
// section whose events leave out buildFinished, the only event Hydra
// sends RunCommand, never runs and is dropped.
func ConfigFrom(k hydraconf.Kept) (Config, error) {
	c := Config{Dynamic: k.DynamicRunCommand}
	for i, b := range k.RunCommand {
		job, command, evs := last(b.Get("job")), last(b.Get("command")), b.Get("events")
		m, err := runcommand.ParseMatcher(job)
		if err != nil {
			return Config{}, fmt.Errorf("<runcommand> %d: %w", i+1, err)
		}
		if strings.TrimSpace(command) == "" {
			return Config{}, fmt.Errorf("<runcommand> %d (job %s) has no command", i+1, m)
		}
		if len(evs) > 0 && !hasBuildFinished(evs) {
			continue
		}
		c.Commands = append(c.Commands, Command{Matcher: m, Command: command})
	}
	return c, nil
}

func last(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// hasBuildFinished reads Hydra's events option: names separated by white
// space.
func hasBuildFinished(evs []string) bool {
	for _, e := range evs {
		for _, name := range strings.Fields(e) {
			if name == "buildFinished" {
				return true
			}
		}
	}
	return false
}
