package hydraimport

import "slices"

func sortInt64s(s []int64) { slices.Sort(s) }
