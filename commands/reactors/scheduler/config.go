package scheduler

import "math"

// Config holds Hydra's queue-runner knobs. Zero fields take the defaults
// of DefaultConfig.
type Config struct {
	// MaxTries is how many attempts a step gets when it keeps failing
	// transiently (status 3). Hydra: 5.
	MaxTries int
	// RetryInterval and RetryBackoff give the wait before try n+1:
	// RetryInterval × RetryBackoff^(n−1) seconds. Hydra: 60 s and 3.
	RetryInterval int64
	RetryBackoff  float64
	// MaxUnsupported is how long (seconds) a runnable step may wait with
	// no machine supporting its system and features before it fails with
	// status 9. Hydra: 120 s.
	MaxUnsupported int64
	// DispatchLease is how long (seconds) a dispatch waits for the
	// builder's StepStarted before the step is requeued.
	DispatchLease int64
	// RunningGrace is added to a running step's timeout (and max silent
	// time) before the scheduler gives it up as lost.
	RunningGrace int64
	// Default timeouts (seconds) and limits (bytes) for builds that set
	// none, and the floor for steps that are only dependencies.
	MaxSilent     int
	Timeout       int
	MaxLogSize    int64
	MaxOutputSize int64
	// CriticalPathEvery is the least time (seconds) between recomputations
	// of critical paths after the graph changed. Hydra: 60 s.
	CriticalPathEvery int64
	// UnsupportedEvery is the least time (seconds) between scans for
	// unsupported steps.
	UnsupportedEvery int64
	// ActionRetry is how long (seconds) an issued action (finish a build,
	// requeue a step, …) waits for its event before it is issued again.
	ActionRetry int64
	// EvictAfter is how long (seconds, after the time its finishing event
	// carries) a finished build stays in memory before Evict forgets it,
	// with the steps no build left in memory needs. Default 3600;
	// negative: never.
	EvictAfter int64
	// MaxVerifications is how many reproducibility rebuilds may run at
	// once in all (each machine runs at most one). Default 2; negative:
	// none run, whatever the jobsets' verifyFraction.
	MaxVerifications int
}

// DefaultConfig returns Hydra's defaults.
func DefaultConfig() Config {
	return Config{MaxTries: 5, RetryInterval: 60, RetryBackoff: 3, MaxUnsupported: 120,
		DispatchLease: 300, RunningGrace: 600, MaxSilent: 3600, Timeout: 36000, MaxLogSize: 64 << 20,
		CriticalPathEvery: 60, UnsupportedEvery: 10, ActionRetry: 30, EvictAfter: 3600, MaxVerifications: 2}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxTries <= 0 {
		c.MaxTries = d.MaxTries
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = d.RetryInterval
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.MaxUnsupported < 0 {
		c.MaxUnsupported = 0
	} else if c.MaxUnsupported == 0 {
		c.MaxUnsupported = d.MaxUnsupported
	}
	if c.DispatchLease <= 0 {
		c.DispatchLease = d.DispatchLease
	}
	if c.RunningGrace <= 0 {
		c.RunningGrace = d.RunningGrace
	}
	if c.MaxSilent <= 0 {
		c.MaxSilent = d.MaxSilent
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxLogSize <= 0 {
		c.MaxLogSize = d.MaxLogSize
	}
	if c.CriticalPathEvery < 0 {
		c.CriticalPathEvery = 0
	}
	if c.UnsupportedEvery < 0 {
		c.UnsupportedEvery = 0
	}
	if c.EvictAfter == 0 {
		c.EvictAfter = d.EvictAfter
	}
	if c.MaxVerifications == 0 {
		c.MaxVerifications = d.MaxVerifications
	}
	if c.ActionRetry <= 0 {
		c.ActionRetry = d.ActionRetry
	}
	return c
}

// RetryDelay returns the wait in seconds before the next try of a step
// that failed transiently for the tries-th time.
func (c Config) RetryDelay(tries int) int64 {
	c = c.withDefaults()
	return int64(float64(c.RetryInterval) * math.Pow(c.RetryBackoff, float64(max(tries, 1)-1)))
}
