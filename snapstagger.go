package paxos

// SnapshotDelay returns how many executed slots (instances, for EPaxos)
// past its snapshot interval every a replica configured with c waits before
// its first routine snapshot: 0 unless StaggerSnapshots is set, else
// every*p/N, where p in 0..N-1 is the replica's place in the order of ids
// that starts after the initial leader and ends with it (the leader, whose
// stall every command waits for, snapshots last). Replicas execute the same
// commands, so with the same interval they would snapshot at the same
// point; each later interval starts where the previous snapshot was
// taken, so the first delay keeps them apart for the rest of the run (with
// intervals that grow with the store, as a share of the interval). A
// function of the configuration only: the protocol stays deterministic.
func (c Config) SnapshotDelay(every int) int {
	if !c.StaggerSnapshots || c.N <= 1 || every <= 0 {
		return 0
	}
	first := 0
	if c.InitialLeader >= 0 && int(c.InitialLeader) < c.N {
		first = int(c.InitialLeader) + 1
	}
	p := ((int(c.ID)-first)%c.N + c.N) % c.N
	return every / c.N * p
}
