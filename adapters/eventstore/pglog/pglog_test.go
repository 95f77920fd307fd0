package pglog_test

import (
	"os"
	"testing"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) events.Store {
		return pglog.New(pgtest.NewPool(t), pglog.Options{})
	})
}
