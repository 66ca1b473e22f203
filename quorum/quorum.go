// Package quorum defines quorum systems: which sets of replicas may act as a
// phase-1 (prepare / recovery) quorum and which as a phase-2 (accept) quorum.
//
// Every constructor here refuses a configuration in which some phase-1 quorum
// could miss some phase-2 quorum, because such a system can choose two values
// for one slot. The planted bugs that need such a system build it in the
// module's internal/planted package, out of reach of the library's users.
package quorum

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// MaxReplicas is the largest cluster a Set can describe.
const MaxReplicas = 64

// Set is a set of replica ids in 0..MaxReplicas-1, one bit per replica.
type Set uint64

// Of returns the set holding the given ids.
func Of(ids ...int) Set {
	var s Set
	for _, id := range ids {
		s = s.Add(id)
	}
	return s
}

// Add returns s with id added.
func (s Set) Add(id int) Set { return s | 1<<uint(id) }

// Has reports whether id is in s.
func (s Set) Has(id int) bool { return s&(1<<uint(id)) != 0 }

// Len returns the number of ids in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Remove returns s without id.
func (s Set) Remove(id int) Set { return s &^ (1 << uint(id)) }

// Full returns the set {0, ..., n-1} (empty for n <= 0, every id for n >=
// MaxReplicas).
func Full(n int) Set {
	switch {
	case n <= 0:
		return 0
	case n >= MaxReplicas:
		return ^Set(0)
	}
	return Set(1)<<uint(n) - 1
}

// Within returns the members of s that are replicas of an n-replica
// cluster, i.e. s with every id >= n removed. Systems count only these.
func (s Set) Within(n int) Set { return s & Full(n) }

// String returns the ids in braces, e.g. "{0,2,3}".
func (s Set) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range s.IDs() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(id))
	}
	b.WriteByte('}')
	return b.String()
}

// IDs returns the ids in s in increasing order.
func (s Set) IDs() []int {
	out := make([]int, 0, s.Len())
	for v := uint64(s); v != 0; v &= v - 1 {
		out = append(out, bits.TrailingZeros64(v))
	}
	return out
}

// System is a quorum system over replicas 0..N()-1.
type System interface {
	// N is the number of replicas the system covers.
	N() int
	// IsPhase1 reports whether s contains a phase-1 (prepare, election,
	// recovery) quorum.
	IsPhase1(s Set) bool
	// IsPhase2 reports whether s contains a phase-2 (accept) quorum.
	IsPhase2(s Set) bool
	// ChoosePhase2 returns a small phase-2 quorum, taking replicas in the
	// given preference order where the system allows a choice. It is what a
	// thrifty leader sends its Accepts to. preference lists replica ids;
	// ids missing from it are considered last in increasing order.
	ChoosePhase2(preference []int) Set
	// String describes the system, e.g. "majority(5)" or "counting(n=5,q1=4,q2=2)".
	String() string
}

// MeetsEvery reports whether s shares a replica with every phase-1 and every
// phase-2 quorum of sys: no quorum fits in the replicas outside s. A
// replica that rebuilds after a lost disk waits for answers from such a set,
// so that whatever any quorum did, some answer reflects it.
func MeetsEvery(sys System, s Set) bool {
	out := Full(sys.N()) &^ s
	return !sys.IsPhase1(out) && !sys.IsPhase2(out)
}

// Alone reports whether replica id forms a phase-1 or a phase-2 quorum of
// sys on its own. Such a replica cannot rebuild after a lost disk: what only
// it accepted was lost with the disk, and no peer can tell it.
func Alone(sys System, id int) bool {
	s := Of(id)
	return sys.IsPhase1(s) || sys.IsPhase2(s)
}

// Answers gathers the peers that answered a rebuilding replica's query until
// they meet every quorum (MeetsEvery). A bound taken over their answers (a
// highest ballot, term or slot) then covers whatever any quorum did before
// they answered; it is fixed from that moment on, since later answers would
// chase what started since.
type Answers struct {
	// Set holds the peers whose answers counted.
	Set Set
	// Enough is set once Set meets every quorum.
	Enough bool
}

// Add counts peer id's answer under sys and reports whether it counted: it
// does not once the answers were enough, nor when id already answered.
func (a *Answers) Add(sys System, id int) bool {
	if a.Enough || a.Set.Has(id) {
		return false
	}
	a.Set = a.Set.Add(id)
	a.Enough = MeetsEvery(sys, a.Set)
	return true
}

// Majority is the classic system: any floor(N/2)+1 replicas form a quorum of
// either phase.
type Majority struct{ n int }

// NewMajority returns the majority system over n replicas.
func NewMajority(n int) (Majority, error) {
	if n < 1 || n > MaxReplicas {
		return Majority{}, fmt.Errorf("quorum: majority needs 1..%d replicas, got %d", MaxReplicas, n)
	}
	return Majority{n: n}, nil
}

// MajoritySize returns floor(n/2)+1.
func MajoritySize(n int) int { return n/2 + 1 }

// N implements System.
func (m Majority) N() int { return m.n }

// Size returns the quorum size, floor(N/2)+1.
func (m Majority) Size() int { return MajoritySize(m.n) }

// IsPhase1 implements System.
func (m Majority) IsPhase1(s Set) bool { return s.Within(m.n).Len() >= m.Size() }

// IsPhase2 implements System.
func (m Majority) IsPhase2(s Set) bool { return s.Within(m.n).Len() >= m.Size() }

// ChoosePhase2 implements System.
func (m Majority) ChoosePhase2(preference []int) Set { return firstK(m.n, m.Size(), preference) }

// String implements System.
func (m Majority) String() string { return fmt.Sprintf("majority(%d)", m.n) }

// firstK takes k ids from preference (ignoring ids outside 0..n-1 and
// repeats), then fills up with the remaining ids in increasing order.
func firstK(n, k int, preference []int) Set {
	var s Set
	for _, id := range preference {
		if s.Len() >= k {
			return s
		}
		if id >= 0 && id < n {
			s = s.Add(id)
		}
	}
	for id := 0; id < n && s.Len() < k; id++ {
		s = s.Add(id)
	}
	return s
}
