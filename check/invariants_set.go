package check

// Invariants runs every protocol invariant that needs no client history (one
// value per instance, EPaxos dependencies between interfering commits, the
// same write order per key at every replica) and returns every violation.
// Verify runs the same checks and adds linearizability; drivers without a
// client history, such as the bounded explorer, call this instead.
func Invariants(learned []Learned, applied []Applied) []string {
	var out []string
	out = append(out, OneValuePerInstance(learned)...)
	out = append(out, DependenciesBetweenConflicts(learned)...)
	out = append(out, ExecutionAgrees(applied)...)
	return out
}
