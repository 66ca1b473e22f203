package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// Recovery campaigns: one quiet key, a few commands on it, and the faults
// that drive recovery into its corners composed around them.
//
// The other recovery faults act on the clients' commands, over a few keys
// that hundreds of operations share, so that every instance has many
// interfering neighbours and a stale copy of one command at one replica is
// soon overtaken by the others' traffic. A bug that needs the same command
// leader restarted twice around one command's recovery, a replica that
// kept the only copy of that command and never learned its fate, and a
// later command on the same key decided by a quorum that includes the
// restarted leader, needs a quiet key. A campaign proposes its own
// commands (puts on two keys of its own, which no client touches) at
// replicas it picks at random, and composes around them, with random
// targets and timings drawn per run:
//
//  1. the torn first broadcast: a replica L is proposed the campaign's
//     first command; the messages of that step reach one of their
//     addressees, K, alone, and L is then crashed (in some runs cut off
//     both ways instead) for 20 to 150 ms; K is cut off both ways right
//     after it handles what L sent it, so it keeps a copy nobody else has;
//  2. the restarted leader, repeatedly: L comes back and, once or twice,
//     goes down again for 0.5 to 1.4 s, either right after it is proposed
//     another command (on the campaign's second key mostly, on the first
//     in some) or right after its first round of its own (a timeout
//     firing, see firesTimeout: it starts recovering what it left
//     behind); the others hear of the first command only through L's
//     later messages, and recover it without L and without K (as a Nop,
//     since none of them knows its command);
//  3. the restart after a learned decision: once L is back for good, it is
//     bounced (a crash and a restart 0 to 3 ms later) right after it
//     learns from a peer that an instance it leads was decided as a Nop
//     (or, without one within 200 to 600 ms, not at all);
//  4. the death after a commit: a replica G other than L and K is proposed
//     a command on the first key; in most runs the messages of that step
//     reach L and only part of the others; L is crashed right after it
//     answers G, and G the moment it announces a decision holding its
//     command, before anyone hears it (with L, two replicas down: the most
//     a cluster of five may lose);
//  5. the stale witness: from a point drawn per run (G's death in most
//     runs, else L's last restart, its bounce or G's proposal), K hears
//     every request again and its answers go through, but it never learns
//     an outcome until the end of the fault window: whatever a replica
//     sends it in a step that decides something, or in a step that
//     handles a message from K and answers K alone or follows what K sent
//     on its own (K's recoveries, its progress reports, which a peer
//     answers with what K missed), is lost;
//  6. competing recoveries: after each crash of step 2 and after G's
//     death, in most runs, one to three of the survivors other than K have
//     their clocks run ahead until a timeout fires (fireTimeout), so that
//     they recover what was left behind at once, against each other,
//     instead of after timeouts the faults so far have stretched.
//
// Later steps are skipped in a share of the runs (drawn per run), so the
// campaigns also cover shorter compositions. Nothing here names a message
// type: a step is judged by whom it handles and whom it sends to, and by
// what it reports decided. The campaign proposes only in runs of the
// key-value workload: in runs of an application's commands (the lock
// service) it runs the recovery faults (injectRecovery) instead, from the
// first command a client proposes. It needs a quiet cluster, so it runs
// only alone (see campaignsAlone). It draws from its own random stream.
func injectCampaigns(e *faultEnv) {
	s, n, window := e.s, e.n, e.window
	rng := rand.New(rand.NewPCG(e.seed, 0x63616d706169676e))
	if n < 3 {
		return
	}
	ms := time.Millisecond
	p := struct {
		start, down1, settle    time.Duration
		down2, gap, witnessLate [2]time.Duration
		cycles                  int
		isolateOnly             bool
		bounce, crashL, dieG    bool
		witnessFrom             int // 0: G's death, 1: L's last restart, 2: its bounce, 3: G's proposal
		ownRound, otherKey      float64
		tearG, hurry            bool
	}{
		hurry:       rng.IntN(4) != 0,
		tearG:       rng.IntN(8) != 0,
		ownRound:    rng.Float64(),
		otherKey:    0.7 + 0.3*rng.Float64(),
		start:       dur(rng, 10*ms, 120*ms),
		down1:       dur(rng, 20*ms, 150*ms),
		settle:      upTo(rng, 60*ms),
		down2:       [2]time.Duration{500 * ms, 700*ms + upTo(rng, 700*ms)},
		gap:         [2]time.Duration{0, 10*ms + upTo(rng, 150*ms)},
		witnessLate: [2]time.Duration{0, 5*ms + upTo(rng, 100*ms)},
		cycles:      1 + rng.IntN(2),
		isolateOnly: rng.IntN(8) == 0,
		bounce:      rng.IntN(8) != 0,
		crashL:      rng.IntN(8) != 0,
		dieG:        rng.IntN(8) != 0,
		witnessFrom: max(0, rng.IntN(8)-4),
	}
	// The campaign's commands: puts on a key no client uses, each from a
	// client identity of its own (so that no deduplication relates them).
	key, other := "campaign", "campaign-b"
	next := uint64(0)
	command := func(key string) paxos.Command {
		next++
		return paxos.Command{Client: 1<<62 + e.seed<<8 + next, Seq: 1, Op: paxos.OpPut, Key: key, Value: fmt.Sprintf("c%d", next)}
	}

	const (
		idle     = iota // waiting for the start and a client's get or put
		tearing         // δ proposed at L: waiting for L's step
		keeping         // waiting for K to handle what L sent it
		cycling         // L restarting, proposed again, crashed again
		learning        // L back for good: bounce it when it learns a decision of its own instance
		proposed        // γ proposed at G: crash L after it answers G; G dies on commit
		done
	)
	phase := idle
	started := false
	l, k, g := -1, -1, -1
	var propID uint64 // the client identity of the command being watched
	cycles := p.cycles
	var kCut []link          // K cut off both ways
	witness := false         // K is a stale witness
	lDown := false           // the campaign holds L down
	answeredG := false       // L answered G
	bounced := false         // L bounced after learning
	waitRound := false       // L goes down after its next round of its own
	asked := make([]bool, n) // asked[q]: what K last sent q was on its own
	now := s.Now

	live := func(not ...int) []int {
		var out []int
		for _, q := range rng.Perm(n) {
			skip := e.down[q] || !s.Alive(paxos.NodeID(q))
			for _, x := range not {
				skip = skip || q == x
			}
			if !skip {
				out = append(out, q)
			}
		}
		return out
	}
	propose := func(at int, key string) bool {
		if e.down[at] || !s.Alive(paxos.NodeID(at)) || now() >= window {
			return false
		}
		cmd := command(key)
		propID = cmd.Client
		return s.Propose(paxos.NodeID(at), cmd) == nil
	}
	// becomeWitness ends K's cut and makes it a stale witness.
	becomeWitness := func() {
		if witness || k < 0 {
			return
		}
		s.At(now()+dur(rng, p.witnessLate[0], p.witnessLate[1]+1), func() {
			e.heal(kCut)
			kCut = nil
			witness = true
		})
	}
	// proposeGamma proposes the campaign's last command at a replica other
	// than L and K.
	proposeGamma := func() {
		s.At(now()+dur(rng, p.gap[0], p.gap[1]+1), func() {
			if phase != learning && phase != cycling {
				return
			}
			gs := live(l, k)
			if len(gs) == 0 {
				phase = done
				return
			}
			g = gs[0]
			if p.witnessFrom == 3 {
				becomeWitness()
			}
			if propose(g, key) {
				phase = proposed
			} else {
				phase = done
			}
		})
	}
	// restartL brings L back; while cycles remain, L goes down again
	// after its next proposal or its next round of its own.
	var restartL func()
	var hurry func(not ...int)
	var takeDown func(d time.Duration)
	restartL = func() {
		if lDown {
			lDown = false
			e.restart(l)
		}
		if now() >= window {
			phase = done
			return
		}
		if cycles > 0 {
			cycles--
			if rng.Float64() < p.ownRound {
				// L is crashed again right after its first round of its
				// own (a timeout firing, see firesTimeout), or after a
				// while without one.
				waitRound = true
				s.At(now()+dur(rng, 300*ms, 900*ms), func() {
					if waitRound && phase == cycling {
						waitRound = false
						takeDown(dur(rng, p.down2[0], p.down2[1]))
						hurry(l)
					}
				})
				return
			}
			on := key
			if rng.Float64() < p.otherKey {
				on = other
			}
			s.At(now()+p.settle, func() {
				if !propose(l, on) {
					phase = done
				}
			})
			return
		}
		phase = learning
		if p.witnessFrom == 1 {
			becomeWitness()
		}
		if !p.bounce {
			bounced = true
			proposeGamma()
			return
		}
		// Without a Nop to learn within a while, go on without the bounce.
		s.At(now()+dur(rng, 200*ms, 600*ms), func() {
			if phase == learning && !bounced {
				bounced = true
				if p.witnessFrom == 2 {
					becomeWitness()
				}
				proposeGamma()
			}
		})
	}
	// takeDown crashes L (or, in some runs, cuts it off both ways) after
	// this step and brings it back after d.
	takeDown = func(d time.Duration) {
		s.At(now(), func() {
			if p.isolateOnly {
				var ls []link
				for q := 0; q < n; q++ {
					ls = append(ls, link{l, q}, link{q, l})
				}
				ls = e.cut(ls)
				s.At(now()+d, func() {
					e.heal(ls)
					restartL()
				})
				return
			}
			if !e.crash(l) {
				phase = done
				return
			}
			lDown = true
			s.At(now()+d, restartL)
		})
	}
	// silence loses what id sends to the replicas in to during this step.
	silence := func(id int, to ...int) {
		var ls []link
		for _, q := range to {
			if q != id {
				ls = append(ls, link{id, q})
			}
		}
		ls = e.cut(ls)
		s.At(now(), func() { e.heal(ls) })
	}

	// hurry runs the clocks of a few live replicas other than those in
	// not ahead until a timeout fires (fireTimeout), one after the other:
	// the survivors of a crash recover what it left behind at once, and
	// in competition, instead of after timeouts that the faults so far
	// have stretched.
	hurry = func(not ...int) {
		if !p.hurry {
			return
		}
		at := now()
		for range 1 + rng.IntN(3) {
			at += dur(rng, 5*ms, 150*ms)
			s.At(at, func() {
				if rs := live(append(not, k)...); len(rs) > 0 {
					e.fireTimeout(rs[0])
				}
			})
		}
	}
	e.watchJumps()

	s.At(p.start, func() { started = true })
	e.observers = append(e.observers, func(o sim.Output) {
		id := int(o.Replica)
		rd := o.Ready
		if id == k {
			// What K sends on its own (on a tick: its recoveries, its
			// progress reports) asks for an answer; what it sends while
			// handling a peer's message answers that peer.
			for i := range rd.Messages {
				asked[rd.Messages[i].To] = o.Input == nil
			}
		}
		if witness && id != k && len(rd.Messages) > 0 &&
			(len(rd.Decided) > 0 || o.Input != nil && int(o.Input.From) == k && (asked[id] || answersAlone(o))) {
			silence(id, k)
		}
		if e.down[id] {
			return
		}
		ours := o.Proposed != nil && o.Proposed.Client == propID && propID != 0
		switch phase {
		case idle:
			if o.Proposed != nil && o.Proposed.Op != paxos.OpGet && o.Proposed.Op != paxos.OpPut {
				phase = done
				injectRecovery(e)
				return
			}
			if !started || o.Proposed == nil {
				return
			}
			ls := live()
			if len(ls) < 2 {
				return
			}
			l, k = ls[0], ls[1]
			if propose(l, key) {
				phase = tearing
			} else {
				phase = done
			}
		case tearing:
			if id != l || !ours {
				return
			}
			// (1) The first broadcast reaches K alone, one of the replicas
			// it is addressed to; L goes down.
			if len(rd.Messages) > 0 {
				k = int(rd.Messages[rng.IntN(len(rd.Messages))].To)
			}
			var others []int
			for q := 0; q < n; q++ {
				if q != k {
					others = append(others, q)
				}
			}
			silence(l, others...)
			phase = keeping
			takeDown(p.down1)
		case keeping:
			if id != k || o.Input == nil || int(o.Input.From) != l {
				return
			}
			var ls []link
			for q := 0; q < n; q++ {
				ls = append(ls, link{k, q}, link{q, k})
			}
			s.At(now(), func() { kCut = e.cut(ls) })
			phase = cycling
		case cycling:
			if id == l && waitRound && firesTimeout(o) {
				// (2) L's round goes out whole; L goes down again.
				waitRound = false
				takeDown(dur(rng, p.down2[0], p.down2[1]))
				hurry(l)
				return
			}
			if id == l && ours {
				// (2) L's broadcast goes out whole; L goes down again.
				takeDown(dur(rng, p.down2[0], p.down2[1]))
				hurry(l)
			}
		case learning:
			if bounced || id != l || o.Input == nil || int(o.Input.From) == l {
				return
			}
			for i := range rd.Decided {
				d := &rd.Decided[i]
				if int(d.Instance.Replica) == l && len(d.Commands) > 0 && d.Commands[0].IsNop() {
					// (3) L learned from a peer that an instance it leads
					// was decided as a Nop: it bounces.
					bounced = true
					s.At(now(), func() {
						if e.crash(l) {
							s.At(now()+upTo(rng, 3*ms), func() { e.restart(l) })
						}
						if p.witnessFrom == 2 {
							becomeWitness()
						}
						proposeGamma()
					})
					return
				}
			}
		case proposed:
			switch {
			case id == g && ours && p.tearG:
				// G's first broadcast reaches L and a random part of the
				// others, leaving at least one of them out (and K, if it
				// is still cut off).
				var rest []int
				for _, q := range rng.Perm(n) {
					if q != g && q != l && (q != k || kCut == nil) {
						rest = append(rest, q)
					}
				}
				lost := rest[:0]
				if len(rest) > 1 {
					lost = rest[:1+rng.IntN(len(rest)-1)]
				}
				if kCut != nil {
					lost = append(lost, k)
				}
				silence(g, lost...)
			case p.crashL && !answeredG && id == l && o.Input != nil && int(o.Input.From) == g && answersAlone(o):
				// (4) L answered G: it goes down, for the rest of the window.
				answeredG = true
				s.At(now(), func() {
					if e.crash(l) {
						lDown = true
					}
				})
			case p.dieG && id == g && announces(rd) && decides(rd, propID):
				// G decided: nobody hears it, and G goes down.
				var all []int
				for q := 0; q < n; q++ {
					all = append(all, q)
				}
				silence(g, all...)
				if p.witnessFrom == 0 {
					becomeWitness()
				}
				hurry(g, l)
				phase = done
				s.At(now(), func() { e.crash(g) })
			}
		}
	})
}

// decides reports whether rd reports a decision holding the command of
// client id.
func decides(rd *paxos.Ready, id uint64) bool {
	for i := range rd.Decided {
		for _, c := range rd.Decided[i].Commands {
			if c.Client == id {
				return true
			}
		}
	}
	return false
}

// campaignsAlone replaces, in three quarters of the runs at N = 5 without leader
// leases whose faults include the recovery faults and that do not run a
// quiet injector alone (see quietFor and bridgesAlone), the run's
// injectors with a recovery campaign alone (see injectCampaigns): a
// campaign needs a quiet cluster for about two of the fault window's three
// seconds. The quiet runs stay what they were, and so does every run
// without the recovery faults. It draws from its own random stream.
func campaignsAlone(on []injector, has map[string]bool, seed uint64, n, leaseTicks int) []injector {
	if n != 5 || leaseTicks > 0 || !has[FaultRecovery] || len(on) == 0 {
		return on
	}
	if len(on) == 1 && slices.ContainsFunc(quietInjectors(n, leaseTicks), func(q injector) bool {
		return q.is(on[0].inject)
	}) {
		return on
	}
	if rand.New(rand.NewPCG(seed, 0x63616d70616c6f6e)).IntN(4) == 0 {
		return on
	}
	return []injector{{FaultRecovery, injectCampaigns}}
}
