package epaxos

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/replicatest"
)

// scriptOptions add the commands EPaxos scenarios need beyond the
// harness's own:
//
//	recover i (R,S)   replica i starts recovering instance (R,S) now,
//	                  whether or not it has heard of it (not once it
//	                  holds it decided), giving up any round it drives
//	                  on it, as its timers would a while later
//	snapshot i        replica i takes a snapshot now (what it persisted
//	                  becomes that snapshot)
//	state i (R,S)     what replica i holds of instance (R,S): its status,
//	                  promise, vote ballot, Orig and attributes, or
//	                  "collected" once garbage-collected
var scriptOptions = replicatest.Options{Commands: map[string]func(*replicatest.Cluster, []string) (string, error){
	"state": func(c *replicatest.Cluster, args []string) (string, error) {
		r, id, err := replicaAndInstance(c, "state", args)
		if err != nil {
			return "", err
		}
		if r.collected(id) {
			return "collected", nil
		}
		in := r.inst[id.Replica][id.Slot]
		if in == nil {
			return "unknown", nil
		}
		return fmt.Sprintf("%v bal=%v vbal=%v orig=%v seq=%d deps=%v executed=%v", in.status, in.bal, in.vbal, in.orig, in.seq, in.deps, in.executed), nil
	},
	"snapshot": func(c *replicatest.Cluster, args []string) (string, error) {
		if len(args) != 1 {
			return "", errors.New("usage: snapshot REPLICA")
		}
		r, i, err := runningReplica(c, args[0])
		if err != nil {
			return "", err
		}
		r.snapEvery = max(r.snapEvery, 1)
		r.sinceSnap, r.sinceSnapCmds = r.snapEvery, r.snapKeys
		c.Collect(i)
		snap, ok := c.Persisted[i].Snapshot.(SnapshotRecord)
		if !ok || len(c.Persisted[i].Records) > 0 {
			return "", fmt.Errorf("replica %d took no snapshot", i)
		}
		return fmt.Sprintf("%d instances, %d keys indexed", len(snap.Instances), len(snap.Index)+snap.Keys.Len()), nil
	},
	"recover": func(c *replicatest.Cluster, args []string) (string, error) {
		r, id, err := replicaAndInstance(c, "recover", args)
		if err != nil {
			return "", err
		}
		in := r.get(id)
		if in == nil || in.status == StatusCommitted {
			return "", fmt.Errorf("replica %d holds %v committed or collected: nothing to recover", r.id, id)
		}
		r.recover(in)
		c.Collect(int(r.id))
		return "", nil
	},
}}

// runningReplica parses a script's replica argument.
func runningReplica(c *replicatest.Cluster, arg string) (*Replica, int, error) {
	var i int
	if _, err := fmt.Sscan(arg, &i); err != nil || i < 0 || i >= c.N() || !c.Up[i] {
		return nil, 0, fmt.Errorf("no running replica %q", arg)
	}
	return c.Replica(i).(*Replica), i, nil
}

// replicaAndInstance parses the arguments "REPLICA (R,S)" of command name.
func replicaAndInstance(c *replicatest.Cluster, name string, args []string) (*Replica, paxos.Instance, error) {
	if len(args) != 2 {
		return nil, paxos.Instance{}, fmt.Errorf("usage: %s REPLICA (R,S)", name)
	}
	r, _, err := runningReplica(c, args[0])
	if err != nil {
		return nil, paxos.Instance{}, err
	}
	id, err := replicatest.Instance(args[1])
	return r, id, err
}

// The scripted scenarios of testdata/ (go test -run TestScripts -rewrite
// rewrites their expected output).
func TestScripts(t *testing.T) {
	replicatest.Scripts(t, "testdata/*.txt", scriptOptions)
}

// The rule-4a script catches the bug of issue 10 (part 1): with mutant
// epaxos/rule4a-after-restart, γ commits on the fast path at step 4 with
// seq 1 and no deps, replica 4's recovery decides it again with a
// dependency on δ, and replicas 0 and 1 (γ first) execute k's writes in
// another order than replicas 2, 3 and 4 (ε first).
func TestRule4aScriptCatchesTheBug(t *testing.T) {
	got := replayFailing(t, "testdata/rule4a_after_restart.txt", "epaxos/rule4a-after-restart")
	for _, want := range []string{
		"(0,1) 2.1 put k=gamma seq=1 deps=[0 0 0 0 0] at 0 1",
		"(0,1) 2.1 put k=gamma seq=3 deps=[0 1 0 1 0] at 2 3 4",
		"0: 2.1 put k=gamma, 3.1 put k=eps\n1: 2.1 put k=gamma, 3.1 put k=eps\n2: 3.1 put k=eps, 2.1 put k=gamma",
		"instance 0.1 decided twice",
	} {
		assert.Contains(t, got, want)
	}
}

// Adversarial scripts (testdata/adv_*.txt) aimed at the premises of the
// recovery rules catch planted bugs: with each mutant below the script's
// instance is decided twice. The Sutra schedule at N = 5 catches
// epaxos/merged-ballots (the randomized search finds it too, through its
// recovery chains). The late PreAccept at N = 5 catches
// epaxos/late-preaccept-overwrites-accept, which the search misses there.
func TestAdversarialScriptsCatchPlantedBugs(t *testing.T) {
	for _, tc := range []struct{ script, mutant string }{
		{"adv_sutra_three_recoveries_n5.txt", "epaxos/merged-ballots"},
		{"adv_snapshot_between_preaccept_and_commit.txt", "epaxos/fast-quorum-minus-one"},
		{"adv_rule3a_competing_n3.txt", "epaxos/minority-fast-quorum"},
		{"accept_reply_earlier_ballot_n5.txt", "epaxos/accept-reply-any-ballot"},
		{"grant_mid_round_n5.txt", "epaxos/prepare-keeps-round"},
		{"late_preaccept_after_accept_n5.txt", "epaxos/late-preaccept-overwrites-accept"},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			m, err := paxos.LookupMutant(tc.mutant)
			require.NoError(t, err)
			o := scriptOptions
			o.New = m.New
			res, err := replicatest.Replay("testdata/"+tc.script, o)
			require.NoError(t, err)
			require.False(t, res.OK())
			assert.Contains(t, res.Rewritten, "decided twice")
			assert.NotContains(t, res.Rewritten, "error:", "every command of the script ran")
		})
	}
}

// Mutant epaxos/fast-path-after-promise (the command leader's fast path
// not checking that the instance still holds its initial ballot) is
// equivalent, so it is not in the catalog: a leader that answers a
// recovery's Prepare ends its round then (onPrepare drops the
// coordinator), so no reply it counts afterwards can commit anything, and
// it never starts a round at the initial ballot again; its promise rises
// with its round alive only through a PreAccept, TryPreAccept or Accept
// of a recovery that did not hear from it, and such a recovery never
// relies on it (rules 4 to 6 count the leader as a possible member of a
// fast quorum). Two scripts run the bug's two cases with it planted: the
// schedule it was planted for (testdata/grant_mid_round_n5.txt: the leader
// answers the Prepare, rule 3 frees the instance, an interfering command
// joins its deps, the leader's fast-quorum replies arrive last) decides
// once (with the leader's round kept alive too, epaxos/prepare-keeps-round,
// it decides twice),
// and a recovery's TryPreAccept that raises the leader's promise lets the
// bug commit on the fast path what the recovery then decides too
// (testdata/equivalent/).
func TestFastPathAfterPromiseIsEquivalent(t *testing.T) {
	o := scriptOptions
	o.New = withBug(func(r *Replica) { r.planted.fastAfterPromise = true })
	replicatest.Scripts(t, "testdata/equivalent/fast_after_*.txt", o)
	replicatest.Script(t, "testdata/grant_mid_round_n5.txt", o)
	// The correct protocol runs the first script alike, and the second
	// but for where the bug acts: there the leader's late replies commit
	// nothing, and the recovery's decision reaches it later.
	res, err := replicatest.Replay("testdata/grant_mid_round_n5.txt", scriptOptions)
	require.NoError(t, err)
	assert.True(t, res.OK(), res.Rewritten)
	res, err = replicatest.Replay("testdata/equivalent/fast_after_tpa_promise_n5.txt", scriptOptions)
	require.NoError(t, err)
	require.False(t, res.OK(), "the bug's branch makes no difference in the second script")
	assert.Contains(t, res.Rewritten, "2->0 PreAcceptReply\n\ndecided\n----\nnone\n")
	assert.Contains(t, res.Rewritten, "at 0 1 2 3 4\n\ncheck\n----\nok")
}

// Two planted bugs of the execution walk show in
// testdata/equal_seq_equal_slot_cycle.txt, where three writes of one key,
// at slot 2 of each replica with equal seq, form a cycle that replica 0
// enters from an instance outside it (through c) and replica 1 at a; with
// the bug planted in every replica, the two apply the writes in different
// orders. epaxos/exec-tie-slot-only orders the members by seq and then slot
// only, leaving the three in the order each walk met them;
// epaxos/tarjan-low-not-propagated cuts the cycle into components whose
// order depends on where the walk started.
func TestCycleScriptCatchesWalkOrderBugs(t *testing.T) {
	for _, tc := range []struct {
		mutant string
		orders []string
	}{
		{"epaxos/exec-tie-slot-only", []string{
			"0: 1.1 put f1=1, 4.1 put k=c, 5.1 put y=c, 2.1 put k=b, 7.1 put k=a,",
			"1: 1.1 put f1=1, 3.1 put f2=1, 7.1 put k=a, 4.1 put k=c, 5.1 put y=c, 2.1 put k=b,",
		}},
		{"epaxos/tarjan-low-not-propagated", []string{
			"0: 1.1 put f1=1, 7.1 put k=a, 2.1 put k=b, 4.1 put k=c,",
			"1: 1.1 put f1=1, 3.1 put f2=1, 2.1 put k=b, 4.1 put k=c, 5.1 put y=c, 7.1 put k=a,",
		}},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			got := replayFailing(t, "testdata/equal_seq_equal_slot_cycle.txt", tc.mutant)
			for _, want := range tc.orders {
				assert.Contains(t, got, want)
			}
			assert.Contains(t, got, `key "k": replica 0 (incarnation 1) and replica 1 (incarnation 1) applied writes in different orders`)
			assert.NotContains(t, got, "error:", "every command of the script ran")
		})
	}
}

// replayFailing replays a script with a planted bug in every replica,
// requires it to fail, and returns its output.
func replayFailing(t *testing.T, script, mutant string) string {
	t.Helper()
	m, err := paxos.LookupMutant(mutant)
	require.NoError(t, err)
	o := scriptOptions
	o.New = m.New
	res, err := replicatest.Replay(script, o)
	require.NoError(t, err)
	require.False(t, res.OK())
	return res.Rewritten
}
