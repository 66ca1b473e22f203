package paxos

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"sort"
)

// clientSession is one client's exactly-once state in Sessions. Every
// seq <= Low executed. The seqs above Low that executed out of order are
// Runs: closed intervals, sorted, disjoint and not adjacent, the first
// starting above Low+1 (Low+1 itself has not executed). Above holds the
// non-empty results of seqs in Runs, for the RetainOutputs seqs below the
// newest one a client executed (older ones are pruned); Recent holds the
// non-empty results of seqs in (Low-RetainOutputs, Low].
//
// Runs rather than a set of seqs: a client whose commands arrive out of
// order (retries at another replica under overload) or who gave up on one
// seq leaves a gap under everything it sends after it, and a set would
// keep one entry per command for as long as the gap lasts, and copy all
// of them into every snapshot. Runs keep one entry per gap.
type clientSession struct {
	Low    uint64
	Runs   []seqRun
	Above  map[uint64]result
	Recent map[uint64]result
}

// seqRun is the executed seqs From..To of a client, both included.
type seqRun struct {
	From uint64 `msgpack:"f"`
	To   uint64 `msgpack:"t"`
}

// MaxSessionGaps bounds how many gaps (runs of seqs executed above one
// that has not) a client's session keeps. A command that would open one
// more is refused with ErrSessionGaps and not recorded, so that the
// memory a client's session holds, and the part of every snapshot it
// takes, stay bounded whatever seqs the client sends.
const MaxSessionGaps = 1 << 14

// ErrSessionGaps is the error of a command refused because its client
// already has MaxSessionGaps gaps among its executed seqs: it did not
// execute; send the missing seqs (or a new client) first.
var ErrSessionGaps = errors.New("command refused: its client has too many seqs executed out of order (paxos.MaxSessionGaps gaps); it did not execute")

// result returns the result of seq if it executed. A seq whose result is
// no longer kept gets an empty one.
func (cs *clientSession) result(seq uint64) (result, bool) {
	switch {
	case seq <= cs.Low:
		return cs.Recent[seq], true
	case len(cs.Runs) > 0:
		if i := cs.run(seq); i < len(cs.Runs) && cs.Runs[i].From <= seq && seq <= cs.Runs[i].To {
			return cs.Above[seq], true
		}
	}
	return result{}, false
}

// run returns the index of the first run that ends at seq-1 or later
// (len(Runs) if none): the run that holds seq, extends to it, or follows it.
// (Written so that no seq overflows: a client may send the largest one.)
func (cs *clientSession) run(seq uint64) int {
	if seq == 0 {
		return 0
	}
	return sort.Search(len(cs.Runs), func(i int) bool { return cs.Runs[i].To >= seq-1 })
}

// admits reports whether recording seq (not yet executed) keeps the
// session within MaxSessionGaps.
func (cs *clientSession) admits(seq uint64) bool {
	if len(cs.Runs) < MaxSessionGaps || seq == cs.Low+1 {
		return true
	}
	i := cs.run(seq)
	return i < len(cs.Runs) && cs.Runs[i].From-1 <= seq // joins a run
}

// record notes that seq, not executed before, executed with res.
func (cs *clientSession) record(seq uint64, res result) {
	if seq <= cs.Low {
		return
	}
	if seq == cs.Low+1 {
		cs.advance(res)
		cs.joinFirstRun()
		return
	}
	cs.addExecuted(seq)
	if res != (result{}) {
		keep(&cs.Above, seq, res)
		cs.pruneAbove()
	}
}

// keep stores seq's result in *m, making the map if there is none.
func keep(m *map[uint64]result, seq uint64, r result) {
	if *m == nil {
		*m = map[uint64]result{}
	}
	(*m)[seq] = r
}

// pruneAbove drops the results of seqs more than RetainOutputs below the
// newest executed one, once there are twice as many as that (a retry of
// such a seq is still recognized, and answered with an empty output).
func (cs *clientSession) pruneAbove() {
	if len(cs.Above) <= 2*RetainOutputs || len(cs.Runs) == 0 {
		return
	}
	newest := cs.Runs[len(cs.Runs)-1].To
	if newest < RetainOutputs {
		return
	}
	maps.DeleteFunc(cs.Above, func(seq uint64, _ result) bool { return seq <= newest-RetainOutputs })
}

// advance moves Low up by one seq whose result is r, keeping the results
// of the last RetainOutputs seqs.
func (cs *clientSession) advance(r result) {
	cs.Low++
	if r != (result{}) {
		keep(&cs.Recent, cs.Low, r)
	}
	if cs.Low > RetainOutputs && cs.Recent != nil {
		delete(cs.Recent, cs.Low-RetainOutputs)
	}
}

// jump moves Low up to to, every seq up to it executed (a run that now
// follows Low): their kept results move from Above to Recent, and Recent
// keeps those of the last RetainOutputs seqs.
func (cs *clientSession) jump(to uint64) {
	cs.Low = to
	for seq, r := range cs.Above {
		if seq <= to {
			delete(cs.Above, seq)
			if to < RetainOutputs || seq > to-RetainOutputs {
				keep(&cs.Recent, seq, r)
			}
		}
	}
	if to > RetainOutputs {
		maps.DeleteFunc(cs.Recent, func(seq uint64, _ result) bool { return seq <= to-RetainOutputs })
	}
}

// newClientSession builds a session from its encoded parts: the seqs
// executed above low are those of runs and the keys of above (an earlier
// build's snapshot lists every one in above, with its result, empty or
// not); above keeps only the non-empty results.
func newClientSession(low uint64, runs []seqRun, above, recent map[uint64]result) *clientSession {
	cs := &clientSession{Low: low, Recent: recent}
	sorted := slices.SortedFunc(slices.Values(runs), func(a, b seqRun) int { return cmp.Compare(a.From, b.From) })
	for _, r := range sorted {
		if r.To <= low || r.From > r.To {
			continue
		}
		r.From = max(r.From, low+1)
		if n := len(cs.Runs); n > 0 && cs.Runs[n-1].To >= r.From-1 {
			cs.Runs[n-1].To = max(cs.Runs[n-1].To, r.To)
			continue
		}
		cs.Runs = append(cs.Runs, seqRun{From: r.From, To: r.To})
	}
	for _, seq := range slices.Sorted(maps.Keys(above)) {
		if seq <= low {
			continue
		}
		cs.addExecuted(seq)
		if r := above[seq]; r != (result{}) {
			keep(&cs.Above, seq, r)
		}
	}
	cs.joinFirstRun()
	return cs
}

// joinFirstRun moves Low to the end of the first run if it starts at
// Low+1.
func (cs *clientSession) joinFirstRun() {
	if len(cs.Runs) > 0 && cs.Runs[0].From == cs.Low+1 {
		to := cs.Runs[0].To
		cs.Runs = slices.Delete(cs.Runs, 0, 1)
		cs.jump(to)
	}
}

// addExecuted adds seq (> Low+1) to Runs, without its result.
func (cs *clientSession) addExecuted(seq uint64) {
	i := cs.run(seq)
	switch {
	case i < len(cs.Runs) && cs.Runs[i].From <= seq && seq <= cs.Runs[i].To:
		// already there
	case i < len(cs.Runs) && cs.Runs[i].To == seq-1:
		cs.Runs[i].To = seq
		if i+1 < len(cs.Runs) && cs.Runs[i+1].From == seq+1 {
			cs.Runs[i].To = cs.Runs[i+1].To
			cs.Runs = slices.Delete(cs.Runs, i+1, i+2)
		}
	case i < len(cs.Runs) && cs.Runs[i].From == seq+1:
		cs.Runs[i].From = seq
	default:
		cs.Runs = slices.Insert(cs.Runs, i, seqRun{From: seq, To: seq})
	}
}

// sortedResults lists m's results by seq (the encoded form).
func sortedResults(m map[uint64]result) []seqResult {
	if len(m) == 0 {
		return nil
	}
	out := make([]seqResult, 0, len(m))
	for _, q := range slices.Sorted(maps.Keys(m)) {
		out = append(out, seqResult{Seq: q, result: m[q]})
	}
	return out
}

// resultMap is sortedResults' inverse.
func resultMap(l []seqResult) map[uint64]result {
	if len(l) == 0 {
		return nil
	}
	m := make(map[uint64]result, len(l))
	for _, e := range l {
		m[e.Seq] = e.result
	}
	return m
}
