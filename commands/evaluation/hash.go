package evaluation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"buildledger/events"
)

// InputsHash is the hash an evaluation compares with the latest one's to
// decide that nothing changed (Hydra's argsHash): the expression's
// location or the locked flake, and each passed input's name, type and
// what identifies its content (store path, revision, value, build).
func InputsHash(cfg events.JobsetConfig, lockedFlake string, inputs []Input) string {
	var b strings.Builder
	fmt.Fprintf(&b, "type %d\nexpr %q %q\nflake %q\n", cfg.Type, cfg.NixExprInput, cfg.NixExprPath, lockedFlake)
	for _, in := range inputs {
		fmt.Fprintf(&b, "input %q %q %d %q %q %q %q %d\n", in.Name, in.Type, in.Arg, in.ArgValue, in.StorePath,
			in.Revision, in.SHA256, in.DependencyBuild)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}
