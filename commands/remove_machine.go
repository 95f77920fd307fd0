package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/machine"
	"buildledger/domain/streams"
	"buildledger/events"
)

// RemoveMachine takes a machine out of service.
type RemoveMachine struct {
	Name string
}

// RemoveMachine appends MachineRemoved to machine-<name>.
func (h *Handlers) RemoveMachine(ctx context.Context, md events.Metadata, c RemoveMachine) (Result, error) {
	if machine.ValidateName(c.Name) != nil {
		return Result{}, domainerr.NotFound("machine", c.Name)
	}
	return Execute(ctx, h.rt, streams.Machine(c.Name), MachineAggregate, func(s machine.State) ([]events.Payload, error) {
		return machine.Decide(s, machine.Remove(c))
	}, md)
}
