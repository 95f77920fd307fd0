package commands

import (
	"context"

	"buildledger/domain/machine"
	"buildledger/domain/streams"
	"buildledger/events"
)

// RegisterMachine adds a build machine.
type RegisterMachine struct {
	Name   string
	Config events.MachineConfig
}

// RegisterMachine appends MachineRegistered to machine-<name>.
func (h *Handlers) RegisterMachine(ctx context.Context, md events.Metadata, c RegisterMachine) (Result, error) {
	if err := machine.ValidateName(c.Name); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.Machine(c.Name), MachineAggregate, func(s machine.State) ([]events.Payload, error) {
		return machine.Decide(s, machine.Register(c))
	}, md)
}
