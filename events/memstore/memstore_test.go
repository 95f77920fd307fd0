package memstore_test

import (
	"testing"

	"buildledger/events"
	"buildledger/events/memstore"
	"buildledger/events/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) events.Store { return memstore.New() })
}
