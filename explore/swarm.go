package explore

import (
	"math/rand/v2"
	"reflect"

	"github.com/paxos-lab/paxos"
)

// swarm is one walk's random weights. Some hold for the whole walk (which
// action kinds it takes at all, how often a message type is picked, how
// often a delivery takes the newest message, how often a replica ticks); the
// rest are drawn again at the start of every phase, a run of 5 to 40
// steps: which directed links are cut (a message sent over a cut link is
// late: picked a hundred times less often than the others, so it usually
// never arrives, or arrives long after its peers), which consensus
// instances are cut (every message whose body has a paxos.Instance field
// naming one: a loss that hits one command's traffic and spares another's
// on the same link), which replicas tick
// often, and how likely crashes, restarts and proposals are. Phases give a
// walk the shape fault scenarios have: a partition that loses one
// command's messages, then heals for the next command's.
type swarm struct {
	seed  uint64
	rng   *rand.Rand
	n     int
	kind  [numKinds]float64
	typ   map[reflect.Type]float64
	cut   float64   // chance that a link is cut in a phase
	late  float64   // chance that any message sent is late
	left  int       // steps left in this phase
	tick  []float64 // per replica, this phase
	pace  []float64 // per replica, the whole walk: sleepy replicas tick rarely
	link  [][]bool  // cut this phase
	phase int
	// topic: the chance that an instance's messages are cut in a phase,
	// and the instances cut this phase (drawn when first seen).
	topic  float64
	topics map[paxos.Instance]bool
	// outbox: the chance that a crash loses what the replica sent.
	outbox float64
	// lifo: the chance that a delivery takes the newest message in
	// flight that is not late, which completes one exchange after another
	// and leaves the rest of each broadcast waiting.
	lifo float64
}

func newSwarm(seed uint64, n int) *swarm {
	rng := rand.New(rand.NewPCG(seed, 0x73776172))
	s := &swarm{seed: seed, rng: rng, n: n, typ: map[reflect.Type]float64{},
		tick: make([]float64, n), pace: make([]float64, n), link: make([][]bool, n)}
	for i := range s.link {
		s.link[i] = make([]bool, n)
		s.pace[i] = s.pick(0.02, 0.3, 1, 1)
	}
	s.kind[Deliver] = 10
	s.kind[Drop] = s.pick(0, 0, 1, 3)
	s.kind[Dup] = s.pick(0, 0, 1)
	s.cut = s.pick(0, 0.2, 0.35, 0.5)
	s.late = s.pick(0, 0, 0.05, 0.2)
	s.topic = s.pick(0, 0.3, 0.5)
	s.outbox = s.pick(0, 0.5, 1)
	s.lifo = s.pick(0, 0, 0.5, 0.9)
	s.newPhase()
	return s
}

func (s *swarm) pick(xs ...float64) float64 { return xs[s.rng.IntN(len(xs))] }

func (s *swarm) newPhase() {
	s.phase++
	s.left = 5 + s.rng.IntN(36)
	s.topics = map[paxos.Instance]bool{}
	s.kind[Tick] = s.pick(1, 2, 4, 8)
	s.kind[Crash] = s.pick(0, 0, 0.5, 2)
	s.kind[Restart] = s.pick(0, 0, 0.5, 3)
	s.kind[Propose] = s.pick(0, 0.5, 1, 3)
	for i := range s.link {
		s.tick[i] = s.pace[i] * s.pick(0, 0.2, 1, 1, 3)
		for j := range s.link[i] {
			s.link[i][j] = s.rng.Float64() < s.cut
		}
	}
}

// step counts one step, starting a new phase when this one is over.
func (s *swarm) step() {
	if s.left--; s.left <= 0 {
		s.newPhase()
	}
}

// weigh draws the weight of a message as it is sent: its type's weight
// (drawn the first time the walk sees the type), divided by 100 when its
// link is cut or it drew "late".
func (s *swarm) weigh(m paxos.Message) float64 {
	t := reflect.TypeOf(m.Body)
	tw, ok := s.typ[t]
	if !ok {
		tw = []float64{0.05, 0.3, 1, 1, 3}[mix(s.seed^strhash(t.String()))%5]
		s.typ[t] = tw
	}
	cut := s.link[m.From][m.To] || (s.late > 0 && s.rng.Float64() < s.late)
	if in, ok := topicOf(m.Body); ok && s.topic > 0 {
		c, seen := s.topics[in]
		if !seen {
			c = s.rng.Float64() < s.topic
			s.topics[in] = c
		}
		cut = cut || c
	}
	if cut {
		tw /= 100
	}
	return tw
}

// lateBelow: a weight under it marks a late message (type weights are at
// least 0.05, late ones at most 3/100).
const lateBelow = 0.04

var instanceType = reflect.TypeOf(paxos.Instance{})

// topicOf returns the consensus instance a message is about: the first
// field of type paxos.Instance of its body, if it is a struct with one.
// Messages of protocols that name no instance have no topic.
func topicOf(body any) (paxos.Instance, bool) {
	v := reflect.ValueOf(body)
	if v.Kind() != reflect.Struct {
		return paxos.Instance{}, false
	}
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Type() == instanceType {
			return f.Interface().(paxos.Instance), true
		}
	}
	return paxos.Instance{}, false
}

func strhash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// choose draws an action that applies in w, by the swarm's weights.
func choose(w *world, sw *swarm) (Action, bool) {
	rng := sw.rng
	c := w.cfg
	ups, downs, open := w.choices()
	tickW := 0.0
	for _, id := range ups {
		tickW += sw.tick[id]
	}
	var wt [numKinds]float64
	if len(w.pending) > 0 {
		wt[Deliver], wt[Dup] = sw.kind[Deliver], sw.kind[Dup]
		if w.drops < c.MaxDrops {
			wt[Drop] = sw.kind[Drop]
		}
	}
	if len(ups) > 0 {
		if tickW > 0 {
			wt[Tick] = sw.kind[Tick]
		}
		if w.down < c.MaxDown && w.crashes < c.MaxCrashes {
			wt[Crash] = sw.kind[Crash]
		}
		if len(open) > 0 {
			wt[Propose] = sw.kind[Propose]
			if sumProposed(w) == 0 {
				wt[Propose] += 5 // start every walk with work soon
			}
		}
	}
	if len(downs) > 0 {
		wt[Restart] = sw.kind[Restart]
	}
	total := 0.0
	for _, x := range wt {
		total += x
	}
	if total == 0 {
		// Nothing this phase allows: tick someone, if anyone runs.
		if len(ups) == 0 {
			return Action{}, false
		}
		return Action{Kind: Tick, Replica: ups[rng.IntN(len(ups))]}, true
	}
	k := Kind(pickWeighted(rng, wt[:]))
	a := Action{Kind: k}
	switch k {
	case Deliver, Drop, Dup:
		if k == Deliver && sw.lifo > 0 && rng.Float64() < sw.lifo {
			for i := len(w.pending) - 1; i >= 0; i-- {
				if w.pending[i].weight >= lateBelow {
					a.Msg, a.key = w.pending[i].m, w.pending[i].key
					return a, true
				}
			}
		}
		ws := make([]float64, len(w.pending))
		for i, p := range w.pending {
			ws[i] = p.weight
			if k == Drop {
				ws[i] = 1 // drops pick uniformly: late messages are the ones left
			}
		}
		i := pickWeighted(rng, ws)
		a.Msg, a.key = w.pending[i].m, w.pending[i].key
	case Tick:
		ws := make([]float64, len(ups))
		for i, id := range ups {
			ws[i] = sw.tick[id]
		}
		a.Replica = ups[pickWeighted(rng, ws)]
	case Crash:
		a.Replica = ups[rng.IntN(len(ups))]
		a.Outbox = rng.Float64() < sw.outbox
	case Restart:
		a.Replica = downs[rng.IntN(len(downs))]
	case Propose:
		a.Replica = ups[rng.IntN(len(ups))]
		a.Command = open[rng.IntN(len(open))]
	}
	return a, true
}

// pickWeighted returns an index drawn with probability proportional to its
// weight; the weights must not all be zero.
func pickWeighted(rng *rand.Rand, ws []float64) int {
	tot := 0.0
	for _, x := range ws {
		tot += x
	}
	y := rng.Float64() * tot
	last := 0
	for i, x := range ws {
		if x == 0 {
			continue
		}
		last = i
		if y < x {
			return i
		}
		y -= x
	}
	return last
}

func sumProposed(w *world) int {
	s := 0
	for _, p := range w.proposed {
		s += p
	}
	return s
}
