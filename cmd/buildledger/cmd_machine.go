package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"buildledger/commands"
	"buildledger/domain/machinesfile"
	"buildledger/events"
)

const machineUsage = "machine add URI [flags] | machine remove NAME | machine list | machine sync FILE"

func runMachine(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: buildledger " + machineUsage)
	}
	sub, rest := args[0], args[1:]
	var cfg config
	fs := a.newFlagSet("machine "+sub, machineUsage)
	cfg.register(fs, false)
	var m machinesfile.Machine
	var systems, supported, mandatory string
	if sub == "add" {
		fs.StringVar(&systems, "systems", hostSystem(), "comma-separated systems the machine builds")
		fs.StringVar(&m.SSHKey, "ssh-key", "", "SSH private key file")
		fs.IntVar(&m.MaxJobs, "max-jobs", 1, "steps at once")
		fs.Float64Var(&m.SpeedFactor, "speed-factor", 1, "relative speed")
		fs.StringVar(&supported, "supported-features", "", "comma-separated supported features")
		fs.StringVar(&mandatory, "mandatory-features", "", "comma-separated mandatory features")
		fs.StringVar(&m.PublicHostKey, "host-key", "", "base64 SSH host key to pin (default: known_hosts)")
		fs.StringVar(&m.Store, "store", "", "--store argument for the builder's nix")
	}
	arg := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		arg, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
	}
	if sub != "list" && arg == "" {
		return errors.New("usage: buildledger " + machineUsage)
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		md := commands.NewMetadata(commands.ComponentActor("cli"), sys.runtime)
		switch sub {
		case "add":
			uri, name, err := machinesfile.ParseURI(arg)
			if err != nil {
				return err
			}
			m.Name, m.URI, m.Enabled = name, uri, true
			m.Systems, m.SupportedFeatures, m.MandatoryFeatures = splitList(systems), splitList(supported), splitList(mandatory)
			if err := machinesfile.Validate(m); err != nil {
				return err
			}
			if _, err := sys.handlers.RegisterMachine(ctx, md, commands.RegisterMachine{Name: m.Name, Config: m.MachineConfig}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "registered machine %s (%s)\n", m.Name, m.URI)
		case "remove":
			if _, err := sys.handlers.RemoveMachine(ctx, md, commands.RemoveMachine{Name: arg}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed machine %s\n", arg)
		case "list":
			ms, err := sys.handlers.Machines(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tURI\tSYSTEMS\tMAX JOBS\tSPEED\tSUPPORTED\tMANDATORY\tENABLED")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%g\t%s\t%s\t%v\n", m.Name, m.URI, strings.Join(m.Systems, ","), m.MaxJobs, m.SpeedFactor,
					strings.Join(m.SupportedFeatures, ","), strings.Join(m.MandatoryFeatures, ","), m.Enabled)
			}
			return w.Flush()
		case "sync":
			n, err := syncMachinesFile(ctx, sys, md, arg)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d machine changes recorded\n", n)
		default:
			return fmt.Errorf("unknown machine command %q; usage: buildledger %s", sub, machineUsage)
		}
		return nil
	})
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// hostSystem returns the Nix system of this host, e.g. x86_64-linux.
func hostSystem() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return arch + "-" + runtime.GOOS
}

// syncMachinesFile makes the registered machines those of a machines
// file (commands.Handlers.SyncMachines). It returns how many commands
// recorded something. Bad lines are an error and change nothing.
func syncMachinesFile(ctx context.Context, sys *system, md events.Metadata, file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("machines file: %w", err)
	}
	defer f.Close()
	want, err := machinesfile.Parse(f, hostSystem())
	if err != nil {
		return 0, fmt.Errorf("machines file %s: %w", file, err)
	}
	return sys.handlers.SyncMachines(ctx, md, want)
}
