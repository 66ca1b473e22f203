package paxos

import (
	"fmt"
	"sort"
	"sync"
)

// A Mutant is a deliberately broken variant of a registered protocol: one
// small, named, plausible bug planted behind an unexported switch of the
// protocol's own code. Mutants exist to prove that the checkers catch the
// bugs they are for (`paxos check --mutant NAME`, and the planted-bug stage
// of CI); nothing else should build one.
type Mutant struct {
	// Name is unique, in the form "protocol/short-name", or
	// "app/short-name" for a bug in an application (App set).
	Name string
	// Protocol is the registered protocol the mutant breaks, or, for a bug
	// in an application, the protocol that replicates the application.
	Protocol string
	// App, when set, names the replicated application the bug lives in, as
	// `paxos check --app` spells it (for example "lockservice"): the
	// protocol is correct and the application's state machine is broken
	// (Needs selects the broken variant). Empty: the key-value store.
	App string
	// Bug says in one sentence what is wrong.
	Bug string
	// Needs names the feature the bug lives in, as `paxos check` flags
	// (for example "--lease 6" or "--q1 2 --q2 4"); empty when the
	// default configuration exercises it.
	Needs string
	// Sizes lists the cluster sizes at which the bug changes behaviour
	// and the planted-bug catalog runs it (nil: 3 and 5). A fast quorum
	// reduced to a majority, for one, differs from the correct one only
	// from N = 7.
	Sizes []int
	// New builds a replica with the bug planted.
	New Constructor
}

var (
	mutantsMu sync.RWMutex
	mutants   = map[string]Mutant{}
)

// RegisterMutant makes a planted bug available by name. Protocol packages
// call it from init. It panics on a duplicate or incomplete entry, which is a
// programming error.
func RegisterMutant(m Mutant) {
	mutantsMu.Lock()
	defer mutantsMu.Unlock()
	if m.Name == "" || m.Protocol == "" || m.New == nil {
		panic("paxos: incomplete mutant registration: " + m.Name)
	}
	if _, dup := mutants[m.Name]; dup {
		panic("paxos: mutant registered twice: " + m.Name)
	}
	mutants[m.Name] = m
}

// Mutants returns every registered mutant, sorted by name.
func Mutants() []Mutant {
	mutantsMu.RLock()
	defer mutantsMu.RUnlock()
	out := make([]Mutant, 0, len(mutants))
	for _, m := range mutants {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupMutant returns the named mutant.
func LookupMutant(name string) (Mutant, error) {
	mutantsMu.RLock()
	m, ok := mutants[name]
	mutantsMu.RUnlock()
	if !ok {
		names := make([]string, 0)
		for _, m := range Mutants() {
			names = append(names, m.Name)
		}
		return Mutant{}, fmt.Errorf("unknown mutant %q (registered: %v); import github.com/paxos-lab/paxos/protocols to register all", name, names)
	}
	return m, nil
}

// Coverage counts protocol events a checker wants to see exercised (for
// EPaxos: instances recovered, TryPreAccepts, deferrals, ...), by name.
type Coverage map[string]uint64

// Add adds every count of o to c.
func (c Coverage) Add(o Coverage) {
	for k, v := range o {
		c[k] += v
	}
}

// CoverageReporter is implemented by replicas that count coverage events.
// Coverage returns the counts since the replica was built (this
// incarnation only); drivers sum them over incarnations.
type CoverageReporter interface {
	Coverage() Coverage
}
