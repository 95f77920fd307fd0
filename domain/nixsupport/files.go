package nixsupport

import "buildledger/domain/status"

// The files Hydra reads in each build output, relative to the output path.
const (
	ProductsFile    = "nix-support/hydra-build-products"
	MetricsFile     = "nix-support/hydra-metrics"
	ReleaseNameFile = "nix-support/hydra-release-name"
	FailedFile      = "nix-support/failed"
)

// BuildStatus returns the status of a build whose derivation built
// successfully: FailedWithOutput when any of its outputs contains the
// nix-support/failed marker, Success otherwise.
func BuildStatus(failedMarker bool) status.Code {
	if failedMarker {
		return status.FailedWithOutput
	}
	return status.Success
}
