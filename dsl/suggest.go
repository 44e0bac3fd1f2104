package dsl

// Suggest returns the name among names closest to a misspelled one (at most
// two edits away, and fewer than its length), or "": the "did you mean" of
// diagnostics.
func Suggest(name string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := EditDistance(name, n); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	if bestD > 2 || bestD >= len(name) {
		return ""
	}
	return best
}

// DescribeConstraint says in words what a CUE constraint (as CUE prints it
// in an error, such as a duration pattern) allows.
func DescribeConstraint(bound string) string { return describeBound(bound) }
