package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"buildledger/adapters/nix/eval"
	"buildledger/adapters/notify/runcmd"
	"buildledger/commands/reactors/outbox"
	"buildledger/commands/reactors/runcommand"
	"buildledger/domain/hydraconf"
)

// runCommandFlags configure where and how RunCommand commands run.
type runCommandFlags struct {
	user    string
	timeout time.Duration
}

// defaultRunUser is the user test/install-deps.sh creates for RunCommand.
const defaultRunUser = "buildledger-run"

func (f *runCommandFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.user, "runcommand-user", defaultRunUser, "when run as root, the unprivileged user hydra.conf's <runcommand> commands and dynamic runCommandHook.* jobs run as")
	fs.DurationVar(&f.timeout, "runcommand-timeout", runcmd.DefaultTimeout, "time limit of one RunCommand command; it is killed (SIGKILL) beyond it")
}

// addRunCommand adds the RunCommand notifier and its sender when
// hydra.conf has <runcommand> sections or enables dynamic hooks, and
// returns how long the worker must hold a claim (a run must end before
// another worker may take it).
func (s *system) addRunCommand(n *notifiers, box *outbox.Outbox, store outbox.Checkpoints, senders map[string]outbox.Sender,
	kept hydraconf.Kept, f runCommandFlags, log *slog.Logger) (time.Duration, error) {
	cfg, err := runcommand.ConfigFrom(kept)
	if err != nil || !cfg.Enabled() {
		return 0, err
	}
	var id eval.Identity
	if os.Geteuid() == 0 {
		if f.user == "" {
			return 0, fmt.Errorf("--runcommand-user: RunCommand does not run commands as root")
		}
		if id, err = eval.LookupIdentity(f.user, ""); err != nil {
			return 0, fmt.Errorf("--runcommand-user: %w (test/install-deps.sh creates %s)", err, defaultRunUser)
		}
	}
	logs, err := s.logStore()
	if err != nil {
		return 0, err
	}
	runner, err := runcmd.NewRunner(id, filepath.Join(s.cfg.home, "runcommand"), logs)
	if err != nil {
		return 0, err
	}
	runner.Timeout = f.timeout
	senders[runcommand.Plugin] = runcommand.NewSender(s.runtime, runner, f.timeout)
	n.followers = append(n.followers, outbox.NewFollower(s.runtime, store, runcommand.New(s.runtime, box, cfg, log), log))
	log.Info("RunCommand enabled", "commands", len(cfg.Commands), "dynamic", cfg.Dynamic, "user", id.Name, "timeout", f.timeout)
	return 2*f.timeout + 2*time.Minute, nil
}
