package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMinHeap checks the heap against a sorted slice through random
// pushes, removals from anywhere, key changes and re-inits, and that every
// element always knows its index (or -1 once out).
func TestMinHeap(t *testing.T) {
	type item struct{ key, idx int }
	r := rand.New(rand.NewPCG(3, 4))
	h := minHeap[*item]{less: func(a, b *item) bool { return a.key < b.key },
		setIndex: func(x *item, i int) { x.idx = i }}
	var in []*item
	check := func() {
		require.Equal(t, len(in), h.Len())
		for i, x := range h.items {
			require.Equal(t, i, x.idx)
		}
		if len(in) > 0 {
			least := slices.MinFunc(in, func(a, b *item) int { return a.key - b.key })
			require.Equal(t, least.key, h.Top().key)
		}
	}
	for range 5000 {
		switch op := r.IntN(10); {
		case op < 5 || len(in) == 0:
			x := &item{key: r.IntN(100)}
			h.Push(x)
			in = append(in, x)
		case op < 8:
			x := in[r.IntN(len(in))]
			require.Same(t, x, h.Remove(x.idx))
			require.Equal(t, -1, x.idx)
			in = slices.DeleteFunc(in, func(y *item) bool { return y == x })
		case op < 9:
			x := in[r.IntN(len(in))]
			x.key = r.IntN(100)
			h.Fix(x.idx)
		default:
			for _, x := range in {
				x.key = r.IntN(100)
			}
			h.Init()
		}
		check()
	}
	var popped []int
	for h.Len() > 0 {
		popped = append(popped, h.Remove(0).key)
	}
	require.True(t, slices.IsSorted(popped))
	h.Clear()
	require.Zero(t, h.Len())
}
