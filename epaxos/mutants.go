package epaxos

import "github.com/paxos-lab/paxos"

func init() {
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
