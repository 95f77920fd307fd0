package ids

import (
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	after := Evolve(Evolve(State{}, &events.IDsReserved{Kind: "build", First: 1, Count: 100}), &events.IDsReserved{Kind: "build", First: 101, Count: 1})
	domaintest.Decide(t, Decide, []domaintest.Case[State, Reserve]{
		{Name: "first block", State: State{}, Cmd: Reserve{Kind: "build", Count: 100}, Want: []events.Payload{&events.IDsReserved{Kind: "build", First: 1, Count: 100}}},
		{Name: "next block", State: after, Cmd: Reserve{Kind: "build", Count: 5}, Want: []events.Payload{&events.IDsReserved{Kind: "build", First: 102, Count: 5}}},
		{Name: "zero", State: State{}, Cmd: Reserve{Kind: "build"}, Err: domainerr.ErrInvalid},
		{Name: "bad kind", State: State{}, Cmd: Reserve{Kind: "Build!", Count: 1}, Err: domainerr.ErrInvalid},
	})
}

func TestEvolveNeverGoesBack(t *testing.T) {
	s := Evolve(State{}, &events.IDsReserved{Kind: "eval", First: 10, Count: 5})
	require.Equal(t, int64(15), s.Next)
	s = Evolve(s, &events.IDsReserved{Kind: "eval", First: 3, Count: 1})
	require.Equal(t, int64(15), s.Next)
	s = Evolve(s, &events.BuildBumped{})
	require.Equal(t, int64(15), s.Next)
}
