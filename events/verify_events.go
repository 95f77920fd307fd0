package events

// VerifiedOutput is an output a verification rebuild checks, with the NAR
// hash its original build uploaded.
type VerifiedOutput struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	NarHash string `json:"narHash"`
}

// VerificationDispatched records the scheduler's decision to rebuild a
// derivation that already built, on Machine (another machine than
// OriginalMachine where one exists), to check that it reproduces its
// outputs. Reason.Verification is set: verifications go at the lowest
// priority, into slots no real build took. Stream: verify-<drv hash>.
type VerificationDispatched struct {
	DrvPath         string           `json:"drvPath"`
	Machine         string           `json:"machine"`
	OriginalMachine string           `json:"originalMachine"`
	Attempt         int              `json:"attempt"`
	Outputs         []VerifiedOutput `json:"outputs"`
	Reason          DispatchReason   `json:"reason"`
	LeaseUntil      int64            `json:"leaseUntil"`
	Timestamp       int64            `json:"timestamp"`
}

// OutputVerified records the outcome of an independent rebuild of one
// output: the NAR hash the rebuild on Machine gave and the hash of the
// original build on OriginalMachine. When they differ and both trees were
// at hand, FirstDifference names the first differing file (in NAR order,
// relative to the output, "." for the output itself).
type OutputVerified struct {
	DrvPath         string `json:"drvPath"`
	Output          string `json:"output"`
	Path            string `json:"path"`
	Machine         string `json:"machine"`
	OriginalMachine string `json:"originalMachine"`
	NarHash         string `json:"narHash"`
	OriginalNarHash string `json:"originalNarHash"`
	Matches         bool   `json:"matches"`
	FirstDifference string `json:"firstDifference,omitempty"`
	Timestamp       int64  `json:"timestamp"`
}

// VerificationEnded closes the verification attempt: Status 0 when the
// rebuild built (OutputVerified events, appended with it, say whether it
// matched), else Hydra's status code of the failure with ErrorMsg.
type VerificationEnded struct {
	DrvPath   string `json:"drvPath"`
	Machine   string `json:"machine"`
	Attempt   int    `json:"attempt"`
	Status    int    `json:"status"`
	ErrorMsg  string `json:"errorMsg,omitempty"`
	Timestamp int64  `json:"timestamp"`
}

// EventType implements Payload.
func (VerificationDispatched) EventType() string { return "VerificationDispatched" }

// EventType implements Payload.
func (OutputVerified) EventType() string { return "OutputVerified" }

// EventType implements Payload.
func (VerificationEnded) EventType() string { return "VerificationEnded" }
