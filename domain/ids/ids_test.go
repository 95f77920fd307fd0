package ids

import (
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	after := Evolve(Evolve(State{}, &events.IDsReserved{Kind: "build", First: 1, Count: 100}), &events.IDsReserved{Kind: "build", First: 101, Count: 1})
	tests := []struct {
		name    string
		state   State
		cmd     Reserve
		want    []events.Payload
		wantErr error
	}{
		{"first block", State{}, Reserve{Kind: "build", Count: 100}, []events.Payload{&events.IDsReserved{Kind: "build", First: 1, Count: 100}}, nil},
		{"next block", after, Reserve{Kind: "build", Count: 5}, []events.Payload{&events.IDsReserved{Kind: "build", First: 102, Count: 5}}, nil},
		{"zero", State{}, Reserve{Kind: "build"}, nil, domainerr.ErrInvalid},
		{"bad kind", State{}, Reserve{Kind: "Build!", Count: 1}, nil, domainerr.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.cmd)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEvolveNeverGoesBack(t *testing.T) {
	s := Evolve(State{}, &events.IDsReserved{Kind: "eval", First: 10, Count: 5})
	require.Equal(t, int64(15), s.Next)
	s = Evolve(s, &events.IDsReserved{Kind: "eval", First: 3, Count: 1})
	require.Equal(t, int64(15), s.Next)
	s = Evolve(s, &events.BuildBumped{})
	require.Equal(t, int64(15), s.Next)
}
