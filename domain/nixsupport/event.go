package nixsupport

import "buildledger/events"

// Event returns the ProductScraped event recording p as product number nr
// (1-based) of build buildID.
func (p Product) Event(buildID int64, nr int) events.ProductScraped {
	return events.ProductScraped{
		BuildID:     buildID,
		ProductNr:   nr,
		Type:        p.Type,
		Subtype:     p.Subtype,
		FileSize:    p.FileSize,
		SHA256:      p.SHA256,
		Path:        p.Path,
		Name:        p.Name,
		DefaultPath: p.DefaultPath,
	}
}

// Event returns the MetricScraped event recording m for build buildID.
func (m Metric) Event(buildID int64) events.MetricScraped {
	return events.MetricScraped{BuildID: buildID, Name: m.Name, Unit: m.Unit, Value: m.Value}
}
