package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIndexedTable(t *testing.T) {
	for _, tc := range []struct{ def, want string }{
		{"CREATE INDEX indexbuildsondrvpath ON replay_1.builds USING btree (drvpath)", "replay_1.builds"},
		{"CREATE INDEX indexbuildoutputspath ON readmodel.buildoutputs USING hash (path)", "readmodel.buildoutputs"},
		{"CREATE INDEX i ON ONLY s.t USING btree (a)", "s.t"},
	} {
		require.Equal(t, tc.want, indexedTable(tc.def), tc.def)
	}
}

// TestSchedule checks the order of the keys and indexes: GIN indexes
// first, then the keys, then the other indexes, the largest tables first.
func TestSchedule(t *testing.T) {
	mk := func(size int64, gin, exclusive bool) task {
		return task{table: tableInfo{oid: uint32(size), size: size}, gin: gin, exclusive: exclusive}
	}
	keys := []task{mk(1, false, true), mk(5, false, true)}
	builds := []task{mk(2, false, false), mk(9, false, false), mk(3, true, false), mk(4, false, false), mk(1, true, false)}
	var got []int64
	for _, tk := range schedule(keys, builds) {
		got = append(got, tk.table.size)
	}
	require.Equal(t, []int64{3, 1, 1, 5, 9, 4, 2}, got)
}

// TestRunTasks checks runTasks' schedule on two workers: an exclusive
// task never runs beside another task of its table, tasks of one table
// that are not exclusive do run together, every task runs once, and the
// first error stops the rest.
func TestRunTasks(t *testing.T) {
	ctx := context.Background()
	var (
		mu        sync.Mutex
		running   = map[uint32]int{}
		exclusive = map[uint32]bool{}
		ran       []string
	)
	enter := func(name string, tab uint32, excl bool) {
		mu.Lock()
		defer mu.Unlock()
		if exclusive[tab] || excl && running[tab] > 0 {
			t.Errorf("%s started beside another task of table %d", name, tab)
		}
		running[tab]++
		exclusive[tab] = excl
		ran = append(ran, name)
	}
	leave := func(tab uint32) {
		mu.Lock()
		defer mu.Unlock()
		running[tab]--
		exclusive[tab] = false
	}
	mk := func(name string, tab uint32, excl bool, body func() error) task {
		return task{table: tableInfo{oid: tab}, exclusive: excl, run: func(context.Context) error {
			enter(name, tab, excl)
			defer leave(tab)
			if body != nil {
				return body()
			}
			return nil
		}}
	}
	// Each pair waits for the other task of the pair: it deadlocks unless
	// the two run at once. The keys of tables 1 and 2 must, and while the
	// key of table 1 waits, the second key of table 1 must not start. The
	// indexes of table 1 must run together.
	pair := func() func() error {
		ch := make(chan struct{})
		return func() error {
			select {
			case ch <- struct{}{}:
			case <-ch:
			case <-time.After(10 * time.Second):
				return errors.New("the other task of the pair never ran beside this one")
			}
			return nil
		}
	}
	keys, indexes := pair(), pair()
	tasks := []task{
		mk("key1", 1, true, keys), mk("key1b", 1, true, nil), mk("key2", 2, true, keys),
		mk("index1a", 1, false, indexes), mk("index1b", 1, false, indexes), mk("index2", 2, false, nil),
	}
	require.NoError(t, runTasks(ctx, tasks, 2))
	require.ElementsMatch(t, []string{"key1", "key1b", "key2", "index1a", "index1b", "index2"}, ran)

	ran = nil
	boom := errors.New("boom")
	err := runTasks(ctx, []task{mk("fails", 1, true, func() error { return boom }), mk("after", 1, true, nil), mk("later", 1, true, nil)}, 2)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []string{"fails"}, ran, "tasks waiting on the failed one's table do not start")
}
