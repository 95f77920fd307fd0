package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/machinesfile"
	"buildledger/domain/streams"
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
	sys, err := openSystem(ctx, cfg, a.logger())
	if err != nil {
		return err
	}
	defer sys.Close()
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
		ms, err := listMachines(ctx, sys.store, sys.codec)
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

// listMachines folds the machine streams of the log into the machines in
// service, sorted by name.
func listMachines(ctx context.Context, store events.Store, codec *events.Codec) ([]machinesfile.Machine, error) {
	byName := map[string]machinesfile.Machine{}
	filter := events.Filter{StreamPrefixes: []string{streams.MachinePrefix}}
	from := events.Start
	for {
		recs, err := store.ReadAll(ctx, from, 5000)
		if err != nil {
			return nil, fmt.Errorf("read machines: %w", err)
		}
		for _, r := range recs {
			from = r.Position
			if !filter.Match(r) {
				continue
			}
			p, err := codec.Decode(r)
			if err != nil {
				continue
			}
			switch e := p.(type) {
			case *events.MachineRegistered:
				byName[e.Name] = machinesfile.Machine{Name: e.Name, MachineConfig: e.MachineConfig}
			case *events.MachineUpdated:
				byName[e.Name] = machinesfile.Machine{Name: e.Name, MachineConfig: e.MachineConfig}
			case *events.MachineRemoved:
				delete(byName, e.Name)
			}
		}
		if len(recs) < 5000 {
			break
		}
	}
	out := make([]machinesfile.Machine, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// syncMachinesFile makes the registered machines those of a machines
// file: new ones are registered, changed ones updated, missing ones
// removed. It returns how many commands recorded something. Bad lines
// are an error and change nothing.
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
	have, err := listMachines(ctx, sys.store, sys.codec)
	if err != nil {
		return 0, err
	}
	current := map[string]bool{}
	for _, m := range have {
		current[m.Name] = true
	}
	n := 0
	count := func(r commands.Result, err error) error {
		if err != nil {
			return err
		}
		if len(r.Events) > 0 {
			n++
		}
		return nil
	}
	for _, m := range want {
		if current[m.Name] {
			err = count(sys.handlers.UpdateMachine(ctx, md, commands.UpdateMachine{Name: m.Name, Config: m.MachineConfig}))
		} else {
			err = count(sys.handlers.RegisterMachine(ctx, md, commands.RegisterMachine{Name: m.Name, Config: m.MachineConfig}))
		}
		delete(current, m.Name)
		if err != nil {
			return n, fmt.Errorf("machine %s: %w", m.Name, err)
		}
	}
	for name := range current {
		err := count(sys.handlers.RemoveMachine(ctx, md, commands.RemoveMachine{Name: name}))
		if err != nil && !errors.Is(err, domainerr.ErrNotFound) {
			return n, fmt.Errorf("remove machine %s: %w", name, err)
		}
	}
	return n, nil
}
