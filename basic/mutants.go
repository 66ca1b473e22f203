package basic

import "github.com/paxos-lab/paxos"

func init() {
	paxos.RegisterMutant(paxos.Mutant{
		Name:     "basic/wiped-votes-at-once",
		Protocol: "basic",
		Bug:      "a replica that lost its disk ignores Config.Rebuild and votes at once on empty state, forgetting its promises and accepted values",
		New: func(cfg paxos.Config) (paxos.Replica, error) {
			cfg.Rebuild = false
			return New(cfg)
		},
	})
}
