// Package livetest holds what the live-runtime tests share: running one
// recorded operation through a client against a real cluster.
package livetest

import (
	"context"
	"fmt"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/client"
)

// Do sends op ("put" or "get") through cl with the given timeout and fills
// in its call time, and its return time and output when it succeeded, as
// offsets from start, so that the history can go to the linearizability
// checker. An operation that failed stays pending: it may or may not have
// taken effect.
func Do(cl *client.Client, op *check.Op, start time.Time, timeout time.Duration) error {
	var kind paxos.Op
	switch op.Op {
	case "put":
		kind = paxos.OpPut
	case "get":
		kind = paxos.OpGet
	default:
		return fmt.Errorf("livetest: operation %q, want put or get", op.Op)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	op.Call = int64(time.Since(start))
	res, err := cl.DoKV(ctx, kind, op.Key, op.Value)
	if err != nil {
		return err
	}
	ret := int64(time.Since(start))
	op.Return, op.Output = &ret, res.Output
	return nil
}
