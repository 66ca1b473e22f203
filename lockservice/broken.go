package lockservice

import (
	"fmt"
	"sort"

	"github.com/paxos-lab/paxos"
)

// bug is a planted defect of a broken variant (see Broken); zero is none.
type bug uint8

const (
	bugNone bug = iota
	bugTokenReuse
	bugReleaseAny
	bugExpiryKeepsLocks
	bugRenewFromRequest
)

// A Variant is a deliberately broken lock service, planted to prove that
// the checker (`paxos check --app lockservice --broken NAME`) catches the
// bug; nothing else should run one.
type Variant struct {
	// Name is unique; Bug says in one sentence what is wrong.
	Name, Bug string
	// New builds the broken state machine.
	New func() paxos.StateMachine
}

var variants = map[string]Variant{
	"token-reuse":        {Name: "token-reuse", Bug: "acquiring a free lock that was held before returns the previous fencing token instead of a larger one", New: planted(bugTokenReuse)},
	"release-any":        {Name: "release-any", Bug: "any session may release a lock, and a release drops every holder", New: planted(bugReleaseAny)},
	"renew-from-request": {Name: "renew-from-request", Bug: "a session's lease is extended from the time its Open or KeepAlive was stamped instead of from the service clock, so a request overtaken by a later-stamped one gets a lease that ends earlier than the service's rule gives", New: planted(bugRenewFromRequest)},
	"expiry-keeps-locks": {Name: "expiry-keeps-locks", Bug: "an expired session is forgotten but its locks stay held (a read still names it; nobody can acquire)", New: planted(bugExpiryKeepsLocks)},
}

// init registers every broken variant in the planted-bug catalog
// (paxos.RegisterMutant) as "lockservice/NAME", replicated by a correct
// Multi-Paxos, so that `paxos mutants` and CI's planted-bug stage run them
// beside the protocols' bugs (`paxos check --mutant lockservice/NAME` is
// `paxos check --app lockservice --broken NAME --protocol multi`).
func init() {
	for _, v := range Broken() {
		paxos.RegisterMutant(paxos.Mutant{
			Name:     "lockservice/" + v.Name,
			Protocol: "multi",
			App:      "lockservice",
			Bug:      v.Bug,
			Needs:    "--broken " + v.Name,
			New:      func(cfg paxos.Config) (paxos.Replica, error) { return paxos.New("multi", cfg) },
		})
	}
}

func planted(b bug) func() paxos.StateMachine {
	return func() paxos.StateMachine {
		m := New().(*Machine)
		m.bug = b
		return m
	}
}

// Broken returns the broken variants, sorted by name.
func Broken() []Variant {
	out := make([]Variant, 0, len(variants))
	for _, v := range variants {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupBroken returns the named broken variant.
func LookupBroken(name string) (Variant, error) {
	v, ok := variants[name]
	if !ok {
		names := []string{}
		for _, v := range Broken() {
			names = append(names, v.Name)
		}
		return Variant{}, fmt.Errorf("lockservice: unknown broken variant %q; choose one of %v", name, names)
	}
	return v, nil
}
