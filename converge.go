package paxos

// Converger is implemented by replicas whose protocol keeps one totally
// ordered log and promises that followers catch up without new client
// traffic: the leader's heartbeats carry its commit point, so once the
// network heals and the clients stop, every running replica executes the
// same log prefix within a few heartbeat rounds. ExecutedPrefix returns the
// log position up to which this replica has executed, counting positions a
// snapshot covers; the positions are the protocol's own, comparable only
// between replicas of one cluster.
//
// The checker (package check) runs a cluster quiet at the end of every run
// and requires every running replica that implements Converger to reach
// the same ExecutedPrefix. Protocols without that promise leave it out:
// in EPaxos a replica that never heard of an instance need not execute it.
type Converger interface {
	ExecutedPrefix() uint64
}
