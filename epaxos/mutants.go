package epaxos

import "github.com/paxos-lab/paxos"

// Planted bugs (see paxos.Mutant): each restores one fixed mistake behind
// an unexported switch, so that checkers can show they find it.
func init() {
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "epaxos/rule4a-after-restart",
		Protocol: "epaxos",
		Bug: "restore rebuilds the dependency index from each instance's latest record, so a restarted replica forgets " +
			"its own command later replaced by a Nop, pre-accepts an interfering instance unchanged, and recovery rule 4a " +
			"wrongly rules it out of that instance's fast quorum: the instance can be decided twice",
		// At N = 3 rule 4a never applies: a recovery hears from the
		// recoverer and one other replica, and if that is the command
		// leader the instance is free (rule 3), so no silent replica other
		// than the leader is ever left to rule out.
		Sizes: []int{5},
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, plants{forgetOverwrittenKeys: true})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "epaxos/volatile-promise",
		Protocol: "epaxos",
		Bug: "a ballot seen in a refusal raises an instance's promise in memory only, so a Prepare at that ballot is " +
			"granted without persisting it; after a restart the replica accepts a lower ballot it had promised not to",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			return newReplica(cfg, plants{volatilePromise: true})
		},
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "epaxos/promise-not-persisted",
		Protocol: "epaxos",
		Bug: "a replica grants a Prepare at a higher ballot, raising its promise in memory, without persisting it; " +
			"after a restart it takes a lower ballot's Prepare or Accept it had promised to refuse",
		New: withBug(func(r *Replica) { r.planted.promiseInMemory = true }),
	})
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "epaxos/wiped-votes-at-once",
		Protocol: "epaxos",
		Bug:      "a replica that lost its disk ignores Config.Rebuild and votes and leads at once on empty state, forgetting its votes, promises and own slots",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			cfg.Rebuild = false
			return New(cfg)
		},
	})
}
