package evaluator

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/inputs"
	"buildledger/domain/jobset"
	"buildledger/events"
)

// TestEverySupportedInputTypeIsFetched: each input type a jobset may be
// saved with has a fetcher; none fails as unsupported.
func TestEverySupportedInputTypeIsFetched(t *testing.T) {
	i := &Inputs{Fetcher: &inputs.Fetcher{CacheDir: t.TempDir()}}
	for _, typ := range jobset.SupportedInputTypes() {
		_, err := i.Fetch(context.Background(), "p", "j", events.JobsetInput{Name: "x", Type: typ, Value: "x"})
		if err != nil {
			require.NotContains(t, err.Error(), "unsupported input type", typ)
		}
	}
}
