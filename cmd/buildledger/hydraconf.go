package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"buildledger/domain/hydraconf"
)

// hydraConfFlag is --hydra-conf: a Hydra installation's hydra.conf, whose
// settings become defaults of the command's flags (docs/hydra-conf.md).
type hydraConfFlag struct {
	file string
	// kept are the sections apply read for the features that act on
	// them (the notifiers).
	kept hydraconf.Kept
}

func (h *hydraConfFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&h.file, "hydra-conf", os.Getenv("BUILDLEDGER_HYDRA_CONF"),
		"Hydra's hydra.conf: its settings with a meaning here set the flags not given on the command line (docs/hydra-conf.md); env BUILDLEDGER_HYDRA_CONF")
}

// apply reads the file, once fs is parsed, into the flags of fs the
// command line left unset. A key for a flag this command does not have
// (the evaluator's max_log_size) is another command's and passes in
// silence; unknown keys are named in one warning. Values that could name
// a secret are never logged.
func (h *hydraConfFlag) apply(fs *flag.FlagSet, log *slog.Logger) error {
	if h.file == "" {
		return nil
	}
	root, err := hydraconf.Parse(h.file, os.ReadFile)
	if err != nil {
		return fmt.Errorf("--hydra-conf: %w", err)
	}
	c, err := hydraconf.Interpret(root)
	if err != nil {
		return fmt.Errorf("--hydra-conf: %w", err)
	}
	h.kept = c.Kept
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range c.Settings {
		if fs.Lookup(s.Flag) == nil {
			continue
		}
		value := s.Value
		if s.Secret {
			value = "(not shown)"
		}
		if given[s.Flag] {
			log.Info("hydra.conf: the command line's flag wins", "key", s.Key, "flag", "--"+s.Flag)
			continue
		}
		if err := fs.Set(s.Flag, s.Value); err != nil {
			return fmt.Errorf("--hydra-conf: %s: %s as --%s: %w", s.Where, s.Key, s.Flag, err)
		}
		log.Info("hydra.conf: setting applied", "key", s.Key, "flag", "--"+s.Flag, "value", value)
	}
	if len(c.Unknown) > 0 {
		log.Warn("hydra.conf: unknown keys, not used", "keys", strings.Join(c.Unknown, ", "))
	}
	if len(c.Ignored) > 0 {
		why := make([]string, len(c.Ignored))
		for i, ig := range c.Ignored {
			why[i] = ig.Key + ": " + ig.Why
		}
		log.Warn("hydra.conf: Hydra settings with no meaning here, ignored", "keys", strings.Join(why, "; "))
	}
	for _, n := range c.Notes {
		log.Warn("hydra.conf: " + n)
	}
	if kept := keptNames(c.Kept); len(kept) > 0 {
		log.Info("hydra.conf: read and kept, acted on by up's notifiers where they exist (docs/notifications.md)", "keys", strings.Join(kept, ", "))
	}
	if c.HasSecrets {
		if fi, err := os.Stat(h.file); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("hydra.conf holds secrets (tokens, passwords) and other users may read it: chmod 600 it",
				"file", h.file, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
		}
	}
	return nil
}

// keptNames names the kept settings the file has.
func keptNames(k hydraconf.Kept) []string {
	var out []string
	add := func(ok bool, name string) {
		if ok {
			out = append(out, name)
		}
	}
	add(k.GitInput != nil, "<git-input>")
	add(len(k.GithubStatus) > 0, "<githubstatus>")
	for _, s := range []string{"github_authorization", "gitea_authorization", "gitlab_authorization"} {
		add(len(k.Authorization[s]) > 0, "<"+s+">")
	}
	add(k.EmailNotification, "email_notification")
	add(k.NotificationSender != "", "notification_sender")
	add(k.EnableBitBucketStatus, "enable_bitbucket_status")
	add(k.BitBucket != nil, "<bitbucket>")
	add(k.LDAP != nil, "<ldap>")
	add(k.LogPrefix != "", "log_prefix")
	add(len(k.RunCommand) > 0, "<runcommand>")
	add(k.DynamicRunCommand, "<dynamicruncommand>")
	return out
}
