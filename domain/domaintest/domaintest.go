// Package domaintest runs the table tests of the domain's deciders: each
// row is a state, a command, and the events or the error the decision
// must return.
package domaintest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Case is one row of a decider's table.
type Case[S, C any] struct {
	Name  string
	State S
	Cmd   C
	// Want are the events decided when Err is nil; nil means none.
	Want []events.Payload
	// Err, if set, is what the error must wrap (errors.Is).
	Err error
	// Field, if set, is the field a *domainerr.FieldError must name.
	Field string
}

// Decide runs decide on every case, each as a subtest.
func Decide[S, C any](t *testing.T, decide func(S, C) ([]events.Payload, error), cases []Case[S, C]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := decide(c.State, c.Cmd)
			if c.Err != nil {
				require.ErrorIs(t, err, c.Err)
				if c.Field != "" {
					var fe *domainerr.FieldError
					require.ErrorAs(t, err, &fe)
					require.Equal(t, c.Field, fe.Field)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.Want, got)
		})
	}
}
