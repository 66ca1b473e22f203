package paxos

// ElectionReporter is implemented by replicas of a protocol that elects
// leaders by numbered terms and promises at most one leader per term
// (Raft's election safety). LeaderTerm returns the term this replica leads
// and true, or false when it does not lead.
//
// The checker (package check) watches every running replica that
// implements it after each simulator event and fails a run as soon as two
// replicas have led the same term. Protocols whose ballots name their
// proposer (Basic and Multi-Paxos) cannot break this by construction and
// leave it out.
type ElectionReporter interface {
	LeaderTerm() (term uint64, leads bool)
}
