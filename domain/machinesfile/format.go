package machinesfile

import (
	"strconv"
	"strings"
)

// Format writes machines as a machines file Parse reads back, one line
// each with all eight fields ("-" for empty ones). Enabled and Store are
// not part of the format and are not written. Format expects machines that
// pass Validate (as Parse returns them); other values may not read back.
func Format(ms []Machine) string {
	var b strings.Builder
	for _, m := range ms {
		fields := []string{
			m.URI,
			orDash(strings.Join(m.Systems, ",")),
			orDash(m.SSHKey),
			strconv.Itoa(m.MaxJobs),
			strconv.FormatFloat(m.SpeedFactor, 'g', -1, 64),
			orDash(strings.Join(m.SupportedFeatures, ",")),
			orDash(strings.Join(m.MandatoryFeatures, ",")),
			orDash(m.PublicHostKey),
		}
		b.WriteString(strings.Join(fields, " "))
		b.WriteByte('\n')
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
