package status

import "strconv"

// BusyState is the progress of a running build step, as stored in
// BuildSteps.busy. Zero means the step is not running.
type BusyState int

// The busy states Hydra writes.
const (
	// NotBusy means the step is not running.
	NotBusy BusyState = 0
	// Preparing means the step was picked for a machine.
	Preparing BusyState = 1
	// Connecting means the queue runner is connecting to the machine.
	Connecting BusyState = 10
	// SendingInputs means the input closure is being copied to the machine.
	SendingInputs BusyState = 20
	// Building means the machine is running the builder.
	Building BusyState = 30
	// WaitingForLocalSlot means the build is done and waits for a local
	// slot to receive its outputs.
	WaitingForLocalSlot BusyState = 35
	// ReceivingOutputs means the outputs are being copied back.
	ReceivingOutputs BusyState = 40
	// PostProcessing means products, metrics and uploads are being
	// handled.
	PostProcessing BusyState = 50
)

// BusyStates returns every busy state Hydra writes, in numeric order.
func BusyStates() []BusyState {
	return []BusyState{
		NotBusy, Preparing, Connecting, SendingInputs, Building,
		WaitingForLocalSlot, ReceivingOutputs, PostProcessing,
	}
}

// Known reports whether b is one of the busy states Hydra writes.
func (b BusyState) Known() bool {
	switch b {
	case NotBusy, Preparing, Connecting, SendingInputs, Building,
		WaitingForLocalSlot, ReceivingOutputs, PostProcessing:
		return true
	}
	return false
}

// String returns the wording of Hydra's UI for b; an unknown state reads
// "Unknown state".
func (b BusyState) String() string {
	switch b {
	case NotBusy:
		return "Not busy"
	case Preparing:
		return "Preparing"
	case Connecting:
		return "Connecting"
	case SendingInputs:
		return "Sending inputs"
	case Building:
		return "Building"
	case WaitingForLocalSlot:
		return "Waiting to receive outputs"
	case ReceivingOutputs:
		return "Receiving outputs"
	case PostProcessing:
		return "Post-processing"
	}
	return "Unknown state"
}

// GoString returns b as Go source, e.g. "status.Building" or
// "status.BusyState(7)".
func (b BusyState) GoString() string {
	names := map[BusyState]string{
		NotBusy: "NotBusy", Preparing: "Preparing", Connecting: "Connecting",
		SendingInputs: "SendingInputs", Building: "Building",
		WaitingForLocalSlot: "WaitingForLocalSlot", ReceivingOutputs: "ReceivingOutputs",
		PostProcessing: "PostProcessing",
	}
	if n, ok := names[b]; ok {
		return "status." + n
	}
	return "status.BusyState(" + strconv.Itoa(int(b)) + ")"
}
