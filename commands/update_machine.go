package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/machine"
	"buildledger/domain/streams"
	"buildledger/events"
)

// UpdateMachine replaces a machine's configuration.
type UpdateMachine struct {
	Name   string
	Config events.MachineConfig
}

// UpdateMachine appends MachineUpdated to machine-<name>, or nothing if
// the configuration is unchanged.
func (h *Handlers) UpdateMachine(ctx context.Context, md events.Metadata, c UpdateMachine) (Result, error) {
	if machine.ValidateName(c.Name) != nil {
		return Result{}, domainerr.NotFound("machine", c.Name)
	}
	return Execute(ctx, h.rt, streams.Machine(c.Name), MachineAggregate, func(s machine.State) ([]events.Payload, error) {
		return machine.Decide(s, machine.Update(c))
	}, md)
}
