package explore

import (
	"math/rand/v2"
	"reflect"
	"slices"

	"github.com/paxos-lab/paxos"
)

// Mode is how a walk draws its steps.
type Mode uint8

// The search modes.
const (
	// Episodes draws coarse episodes (run a group of replicas for a
	// while, deliver part of one replica's broadcast, crash, restart,
	// propose), each carried out as the step actions it performs. The
	// default.
	Episodes Mode = iota
	// Steps draws one step action at a time (swarm walks, see swarm.go).
	Steps
)

// String returns the mode's name, as the command line spells it.
func (m Mode) String() string {
	switch m {
	case Episodes:
		return "episodes"
	case Steps:
		return "steps"
	}
	return "mode(?)"
}

// The kinds of episode.
const (
	epRun     = iota // run a group: deliver among its members, tick them
	epPartial        // deliver some of one sender's messages in flight to some receivers
	epCrash
	epRestart
	epPropose
	epBounce // crash a replica and restart it at once (a reboot)
	numEps
)

// episodes draws one walk's episodes. Its weights are drawn per walk from
// the walk's seed (a swarm over episode kinds).
type episodes struct {
	rng  *rand.Rand
	n    int
	kind [numEps]float64
	// outbox: the chance that a crash loses what the replica sent.
	outbox float64
	// lifo: the chance that a delivery in a run takes the newest
	// deliverable message.
	lifo float64
	// edgeDrop: the chance that a run ends by losing the messages its
	// members sent to replicas outside the group (else they stay late).
	edgeDrop float64
	// block: the chance that a run holds back one message type, one
	// instance's messages, or both (they stay in flight, late).
	block float64
	// member: the chance that a running replica is in a run's group.
	member float64
	// sleepy, if a replica (else -1), never ticks in this walk while a
	// fellow member of its group can: a slow replica whose timeouts do
	// not fire, so that what it holds stays as it is (a stale copy, a
	// vote) while the others move on.
	sleepy int
	// The message types and instances seen in flight so far, in the order
	// first seen (what a run may hold back).
	types  []reflect.Type
	topics []paxos.Instance
	seenT  map[reflect.Type]bool
	seenI  map[paxos.Instance]bool
	// scope, if not nil, is the walk's active replicas: runs, partial
	// deliveries and proposals involve them only, and the others are cut
	// off for the whole walk (they may still crash and restart; what is
	// in flight to or from them stays there, late). A swarm over scopes:
	// the few replicas a stage of a scenario needs talk among themselves
	// while the rest stand still.
	scope []bool
	// holdWalk: the walk holds back one instance's messages for its
	// whole length (in every run and partial delivery), picked among the
	// instances known when the walk's own episodes begin; held names it
	// once picked.
	holdWalk bool
	held     *paxos.Instance
	holdLate bool // the walk's first episode has passed
	// mac is the walk's macro moves (macro.go); camp, if not nil, the
	// campaign a campaign walk is carrying out (campaign.go).
	mac  macros
	camp *campaign
}

func newEpisodes(seed uint64, n int) *episodes {
	rng := rand.New(rand.NewPCG(seed, 0x65706973))
	e := &episodes{rng: rng, n: n, seenT: map[reflect.Type]bool{}, seenI: map[paxos.Instance]bool{}}
	e.kind[epRun] = 4
	e.kind[epPartial] = e.pick(0.5, 1, 2)
	e.kind[epCrash] = e.pick(0, 0.5, 1, 2)
	e.kind[epRestart] = e.pick(0.5, 1, 2)
	// Some walks propose nothing after their first command (swarm
	// testing: a kind switched off), so that commands are left for
	// later stages of a scenario: a walk from the archive draws its own.
	e.kind[epPropose] = e.pick(0, 0.1, 0.5, 1, 2)
	e.outbox = e.pick(0, 0.5, 1)
	e.lifo = e.pick(0, 0.5)
	e.edgeDrop = e.pick(0, 0.3, 0.6)
	e.block = e.pick(0.2, 0.5, 0.8)
	e.member = e.pick(0.4, 0.6, 0.8)
	// From a source of its own, so that the draws above stay as they
	// were before this trait existed.
	sr := rand.New(rand.NewPCG(seed, 0x736c6570))
	e.sleepy = -1
	if sr.IntN(2) == 0 {
		e.sleepy = sr.IntN(n)
	}
	e.kind[epBounce] = []float64{0, 0.5, 1, 2}[sr.IntN(4)]
	// Scope and walk-long hold, from a source of their own too.
	sc := rand.New(rand.NewPCG(seed, 0x73636f70))
	if sc.Float64() < scopeP && n > 2 {
		// A majority (three times in four) or more, but not everyone:
		// a minority alone cannot decide anything.
		k := n/2 + 1
		if sc.IntN(4) == 0 {
			k += sc.IntN(n - k)
		}
		e.scope = make([]bool, n)
		for _, id := range sc.Perm(n)[:k] {
			e.scope[id] = true
		}
	}
	e.holdWalk = sc.Float64() < holdWalkP
	e.mac = newMacros(seed)
	return e
}

// scopeP is the chance that a walk has a scope; holdWalkP the chance that
// it holds back one instance's messages throughout.
const scopeP, holdWalkP = 0.3, 0.4

// inScope reports whether replica id is active in this walk.
func (e *episodes) inScope(id paxos.NodeID) bool {
	return e.scope == nil || int(id) < len(e.scope) && e.scope[id]
}

// heldBack reports whether m is about the instance this walk holds back.
func (e *episodes) heldBack(m paxos.Message) bool {
	if e.held == nil {
		return false
	}
	t, ok := topicOf(m.Body)
	return ok && t == *e.held
}

// pickHeld picks the instance a walk that holds one back holds: one of
// the instances known (in flight, or in a replica's records) when the
// walk's own episodes begin, or, if fewer than two are known then (a walk
// from scratch), at an episode drawn at random once two are.
func (e *episodes) pickHeld(w *world) {
	if !e.holdWalk || e.held != nil {
		return
	}
	first := !e.holdLate
	e.holdLate = true
	if !first && e.rng.IntN(2) == 0 {
		return
	}
	known := append([]paxos.Instance(nil), e.topics...)
	var recs []paxos.Instance
	for k := range w.shapes {
		if !slices.Contains(known, k.in) && !slices.Contains(recs, k.in) {
			recs = append(recs, k.in)
		}
	}
	slices.SortFunc(recs, func(a, b paxos.Instance) int {
		if a.Replica != b.Replica {
			return int(a.Replica) - int(b.Replica)
		}
		return int(a.Slot) - int(b.Slot)
	})
	known = append(known, recs...)
	if len(known) < 2 {
		return // holding back the only instance would stop everything
	}
	in := known[e.rng.IntN(len(known))]
	e.held = &in
}

func (e *episodes) pick(xs ...float64) float64 { return xs[e.rng.IntN(len(xs))] }

// learn records the message types and instances in flight.
func (e *episodes) learn(w *world) {
	for _, p := range w.pending {
		t := reflect.TypeOf(p.m.Body)
		if !e.seenT[t] {
			e.seenT[t] = true
			e.types = append(e.types, t)
		}
		if in, ok := topicOf(p.m.Body); ok && !e.seenI[in] {
			e.seenI[in] = true
			e.topics = append(e.topics, in)
		}
	}
}

// cutShort is the chance that a run is cut short after a few actions (an
// exchange caught half way); fastP the chance that one member's clock
// runs ahead in a run.
const cutShort, fastP = 0.2, 0.5

// majorityGroup is the chance that a run's group is exactly a majority of
// the replicas.
const majorityGroup = 0.5

// episodeCap bounds the actions of one run episode.
const episodeCap = 200

// next draws one episode that applies in w and carries it out through do,
// which applies an action, records it, and reports false when the walk
// must stop. It reports false when no episode applies or do stopped.
func (e *episodes) next(w *world, do func(Action) bool) bool {
	c := w.cfg
	e.learn(w)
	if e.camp != nil {
		return e.nextCampaign(w, do)
	}
	e.pickHeld(w)
	ups, downs, open := w.choices()
	active := ups
	if e.scope != nil {
		active = slices.DeleteFunc(slices.Clone(ups), func(id paxos.NodeID) bool { return !e.inScope(id) })
	}
	if e.mac.isoNow && !e.mac.isoSet {
		e.isolate(w)
		active = slices.DeleteFunc(active, func(id paxos.NodeID) bool { return !e.inScope(id) })
	}
	var wt [numKindsAll]float64
	if len(active) > 0 {
		wt[epRun] = e.kind[epRun]
		if len(open) > 0 {
			wt[epPropose] = e.kind[epPropose]
			if sumProposed(w) == 0 {
				wt[epPropose] += 8 // start every walk with work soon
			}
		}
	}
	if len(ups) > 0 {
		if w.down < c.MaxDown && w.crashes < c.MaxCrashes {
			wt[epCrash] = e.kind[epCrash]
			wt[epBounce] = e.kind[epBounce]
		}
	}
	if len(w.pending) > 0 {
		wt[epPartial] = e.kind[epPartial]
	}
	if len(downs) > 0 {
		wt[epRestart] = e.kind[epRestart]
	}
	e.macroWeights(w, wt[:], active, ups, open)
	total := 0.0
	for _, x := range wt {
		total += x
	}
	if total == 0 {
		return false
	}
	rng := e.rng
	switch k := pickWeighted(rng, wt[:]); k {
	case epTear, epIsolate, epWatch, epAgain, epHurry:
		return e.macro(k, w, active, ups, open, do)
	case epRun:
		return e.run(w, active, do)
	case epPartial:
		return e.partial(w, do)
	case epCrash:
		return do(Action{Kind: Crash, Replica: ups[rng.IntN(len(ups))], Outbox: rng.Float64() < e.outbox})
	case epRestart:
		return do(Action{Kind: Restart, Replica: downs[rng.IntN(len(downs))]})
	case epBounce:
		id := ups[rng.IntN(len(ups))]
		return do(Action{Kind: Crash, Replica: id, Outbox: rng.Float64() < e.outbox}) && do(Action{Kind: Restart, Replica: id})
	default:
		return do(Action{Kind: Propose, Replica: active[rng.IntN(len(active))], Command: open[rng.IntN(len(open))]})
	}
}

// run draws a group of running replicas and runs it on its own for a
// while: messages between members are delivered (in random order, or
// newest first), members tick, and messages to or from replicas outside
// the group stay in flight. The run may hold back one message type, the
// messages of one instance, or both, and may end by losing what members
// sent outside the group.
func (e *episodes) run(w *world, ups []paxos.NodeID, do func(Action) bool) bool {
	return e.runWith(w, e.plan(w, ups), do)
}

// plan draws a run's choices (see run) among the running replicas ups.
func (e *episodes) plan(w *world, ups []paxos.NodeID) runPlan {
	rng := e.rng
	r := runPlan{in: make([]bool, len(w.reps))}
	if q := w.cfg.Replicas/2 + 1; rng.Float64() < majorityGroup && len(ups) >= q {
		// Exactly a majority: the smallest group that can make progress
		// on its own, which leaves the others out of what it decides.
		for _, k := range rng.Perm(len(ups))[:q] {
			r.in[ups[k]] = true
		}
	} else {
		for _, id := range ups {
			if rng.Float64() < e.member {
				r.in[id] = true
			}
		}
	}
	if !slices.Contains(r.in, true) {
		r.in[ups[rng.IntN(len(ups))]] = true
	}
	if rng.Float64() < e.block {
		what := rng.IntN(3)
		if what != 1 && len(e.types) > 0 {
			r.holdType = e.types[rng.IntN(len(e.types))]
		}
		if what != 0 && len(e.topics) > 0 {
			r.holdTopic, r.holdInst = e.topics[rng.IntN(len(e.topics))], true
		}
	}
	r.ticks = []int{0, 1, 2, 4, 8, 16, 32}[rng.IntN(7)]
	r.fast = -1
	if rng.Float64() < fastP {
		var members []int
		for id, ok := range r.in {
			if ok {
				members = append(members, id)
			}
		}
		r.fast = members[rng.IntN(len(members))]
	}
	r.edgeDrop = rng.Float64() < e.edgeDrop
	r.steps = episodeCap
	if rng.Float64() < cutShort {
		r.steps = 1 + rng.IntN(12)
	}
	return r
}

// runPlan is one run episode's choices.
type runPlan struct {
	in        []bool // the group
	holdType  reflect.Type
	holdTopic paxos.Instance
	holdInst  bool
	ticks     int
	// fast, if a member (else -1), takes most of the ticks: its clock
	// runs ahead, so its timeouts fire first.
	fast     int
	edgeDrop bool
	// steps bounds the actions of the run (at most episodeCap; zero
	// means episodeCap).
	steps int
	// watch, if not zero, is 1 + a member that the run crashes the moment
	// it reports a decision, losing what it sent, or, with reboot,
	// crashes and restarts at once; the run ends there.
	watch  int
	reboot bool
	// focus, if focused, is the one instance whose messages the run
	// delivers (with those about no instance); the others stay late.
	focus   paxos.Instance
	focused bool
}

func (r *runPlan) held(m paxos.Message) bool {
	if r.focused {
		if t, ok := topicOf(m.Body); ok && t != r.focus {
			return true
		}
	}
	if r.holdType != nil && reflect.TypeOf(m.Body) == r.holdType {
		return true
	}
	if r.holdInst {
		if t, ok := topicOf(m.Body); ok && t == r.holdTopic {
			return true
		}
	}
	return false
}

func (e *episodes) runWith(w *world, r runPlan, do func(Action) bool) bool {
	rng := e.rng
	in := r.in
	ticks := r.ticks
	limit := r.steps
	if limit <= 0 || limit > episodeCap {
		limit = episodeCap
	}
	var elig []int
	decs := 0
	if r.watch > 0 {
		decs = w.decCount[r.watch-1]
	}
	for steps := 0; steps < limit; steps++ {
		elig = elig[:0]
		for i, p := range w.pending {
			if in[p.m.From] && in[p.m.To] && w.reps[p.m.To] != nil && !r.held(p.m) && !e.heldBack(p.m) {
				elig = append(elig, i)
			}
		}
		var a Action
		switch {
		case len(elig) > 0 && (ticks == 0 || rng.Float64() < 0.85):
			i := elig[rng.IntN(len(elig))]
			if rng.Float64() < e.lifo {
				i = elig[len(elig)-1]
			}
			a = Action{Kind: Deliver, Msg: w.pending[i].m, key: w.pending[i].key}
		case ticks > 0:
			ticks--
			var live []paxos.NodeID
			for id, ok := range in {
				if ok && w.reps[id] != nil && id != e.sleepy {
					live = append(live, paxos.NodeID(id))
				}
			}
			if len(live) == 0 && e.sleepy >= 0 && in[e.sleepy] && w.reps[e.sleepy] != nil {
				live = append(live, paxos.NodeID(e.sleepy)) // alone, it ticks
			}
			if len(live) == 0 {
				return true
			}
			a = Action{Kind: Tick, Replica: live[rng.IntN(len(live))]}
			if r.fast >= 0 && r.fast != e.sleepy && w.reps[r.fast] != nil && rng.Float64() < 0.8 {
				a.Replica = paxos.NodeID(r.fast)
			}
		default:
			steps = limit
			continue
		}
		if !do(a) {
			return false
		}
		if r.watch > 0 && w.decCount[r.watch-1] > decs {
			id := paxos.NodeID(r.watch - 1)
			if !do(Action{Kind: Crash, Replica: id, Outbox: !r.reboot}) {
				return false
			}
			if r.reboot {
				return do(Action{Kind: Restart, Replica: id})
			}
			return true
		}
	}
	if r.edgeDrop {
		for i := len(w.pending) - 1; i >= 0; i-- {
			if i >= len(w.pending) {
				continue
			}
			p := w.pending[i]
			if in[p.m.From] && !in[p.m.To] && w.drops < w.cfg.MaxDrops {
				if !do(Action{Kind: Drop, Msg: p.m, key: p.key}) {
					return false
				}
			}
		}
	}
	return true
}

// partial delivers some of one sender's messages in flight to a random
// subset of their receivers, perhaps of one type only, without delivering
// what the receivers send back: a broadcast that reaches some replicas
// and not (yet) others.
func (e *episodes) partial(w *world, do func(Action) bool) bool {
	rng := e.rng
	var cand []int
	for i, q := range w.pending {
		if e.inScope(q.m.From) && e.inScope(q.m.To) && !e.heldBack(q.m) {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return true
	}
	p := w.pending[cand[rng.IntN(len(cand))]]
	from := p.m.From
	var typ reflect.Type
	if rng.IntN(2) == 0 {
		typ = reflect.TypeOf(p.m.Body)
	}
	to := make([]bool, len(w.reps))
	to[p.m.To] = true
	if rng.IntN(2) == 0 { // else one receiver only: a copy that reached one replica
		for i := range to {
			if rng.IntN(2) == 0 {
				to[i] = true
			}
		}
	}
	var sel []Action
	for _, q := range w.pending {
		if q.m.From == from && to[q.m.To] && e.inScope(q.m.To) && !e.heldBack(q.m) && (typ == nil || reflect.TypeOf(q.m.Body) == typ) {
			sel = append(sel, Action{Kind: Deliver, Msg: q.m, key: q.key})
		}
	}
	for _, a := range sel {
		if w.findKey(a.key) < 0 {
			continue
		}
		if !do(a) {
			return false
		}
	}
	return true
}
