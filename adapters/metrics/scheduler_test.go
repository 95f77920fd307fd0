package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"buildledger/commands/reactors/scheduler"
)

// TestSchedulerMetrics: the gauges come from the watched status, the
// histograms from what the scheduler observes, under the names operators'
// dashboards use.
func TestSchedulerMetrics(t *testing.T) {
	m := NewScheduler()
	m.Watch(func() scheduler.Status {
		return scheduler.Status{NrQueuedBuilds: 3, NrDecisions: 7,
			MachineTypes: map[string]scheduler.SystemStatus{"x86_64-linux": {Runnable: 2}},
			Machines:     map[string]scheduler.MachineStatus{"localhost": {MaxJobs: 4, CurrentJobs: 1}}}
	})
	m.Decided(time.Millisecond)
	m.Dispatched(2 * time.Millisecond)
	m.Dispatched(3 * time.Millisecond)

	want := `
# HELP buildledger_scheduler_runnable_steps Runnable steps waiting for a machine, per system.
# TYPE buildledger_scheduler_runnable_steps gauge
buildledger_scheduler_runnable_steps{system="x86_64-linux"} 2
# HELP buildledger_scheduler_machine_steps Steps dispatched to or running on a machine.
# TYPE buildledger_scheduler_machine_steps gauge
buildledger_scheduler_machine_steps{machine="localhost"} 1
# HELP buildledger_scheduler_machine_max_jobs Slots of a machine (maxJobs).
# TYPE buildledger_scheduler_machine_max_jobs gauge
buildledger_scheduler_machine_max_jobs{machine="localhost"} 4
# HELP buildledger_scheduler_unfinished_builds Queued builds not finished yet.
# TYPE buildledger_scheduler_unfinished_builds gauge
buildledger_scheduler_unfinished_builds 3
# HELP buildledger_scheduler_decisions_total Dispatch decisions made since start.
# TYPE buildledger_scheduler_decisions_total counter
buildledger_scheduler_decisions_total 7
`
	require.NoError(t, testutil.CollectAndCompare(m, strings.NewReader(want),
		"buildledger_scheduler_runnable_steps", "buildledger_scheduler_machine_steps", "buildledger_scheduler_machine_max_jobs",
		"buildledger_scheduler_unfinished_builds", "buildledger_scheduler_decisions_total"))
	require.Equal(t, 2, testutil.CollectAndCount(m, "buildledger_scheduler_dispatch_seconds", "buildledger_scheduler_decide_seconds"))
}
