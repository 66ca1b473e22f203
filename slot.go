package paxos

// MaxSlot is the highest slot number a replica accepts where a peer may
// legitimately report one far beyond its own window: a snapshot's index (a
// snapshot may be far ahead of the replica that installs it; that is what
// it is for), a candidate's commit point, a rebuild answer's highest slot.
// No run executes 2^62 slots, and above it the replicas' slot arithmetic
// (next slot, horizon, window) could overflow, so Step refuses a larger
// number with ErrMalformed.
const MaxSlot = 1 << 62
