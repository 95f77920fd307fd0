package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"buildledger/domain/domainerr"
	"buildledger/domain/machinesfile"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Machines folds the machine streams of the log into the machines in
// service, sorted by name.
func (h *Handlers) Machines(ctx context.Context) ([]machinesfile.Machine, error) {
	byName := map[string]machinesfile.Machine{}
	filter := events.Filter{StreamPrefixes: []string{streams.MachinePrefix}}
	from := events.Start
	const page = 5000
	for {
		recs, err := h.rt.store.ReadAll(ctx, from, page)
		if err != nil {
			return nil, fmt.Errorf("read machines: %w", err)
		}
		for _, r := range recs {
			from = r.Position
			if !filter.Match(r) {
				continue
			}
			p, err := h.rt.codec.Decode(r)
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
		if len(recs) < page {
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

// SyncMachines makes the registered machines want (a machines file's):
// new ones are registered, changed ones updated, missing ones removed. It
// returns how many commands recorded something.
func (h *Handlers) SyncMachines(ctx context.Context, md events.Metadata, want []machinesfile.Machine) (int, error) {
	have, err := h.Machines(ctx)
	if err != nil {
		return 0, err
	}
	current := map[string]bool{}
	for _, m := range have {
		current[m.Name] = true
	}
	n := 0
	count := func(r Result, err error) error {
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
			err = count(h.UpdateMachine(ctx, md, UpdateMachine{Name: m.Name, Config: m.MachineConfig}))
		} else {
			err = count(h.RegisterMachine(ctx, md, RegisterMachine{Name: m.Name, Config: m.MachineConfig}))
		}
		delete(current, m.Name)
		if err != nil {
			return n, fmt.Errorf("machine %s: %w", m.Name, err)
		}
	}
	for name := range current {
		err := count(h.RemoveMachine(ctx, md, RemoveMachine{Name: name}))
		if err != nil && !errors.Is(err, domainerr.ErrNotFound) {
			return n, fmt.Errorf("remove machine %s: %w", name, err)
		}
	}
	return n, nil
}
