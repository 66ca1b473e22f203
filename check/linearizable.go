package check

import (
	"fmt"
	"math"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a linearizability check.
type Verdict int

// Verdicts.
const (
	Linearizable    Verdict = iota // some linearization explains every operation
	NotLinearizable                // no linearization exists
	Undecided                      // the checker ran out of time
)

// String returns a word for the verdict.
func (v Verdict) String() string {
	switch v {
	case Linearizable:
		return "linearizable"
	case NotLinearizable:
		return "not linearizable"
	}
	return "undecided (timeout)"
}

type kvInput struct {
	put   bool
	key   string
	value string
}

// kvModel is a register per key; histories are partitioned by key, so the
// state is one string.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%q, %q)", in.key, in.value)
		}
		return fmt.Sprintf("get(%q) -> %q", in.key, output)
	},
}

// CheckLinearizable decides whether ops are linearizable as operations on a
// key-value store whose keys start empty. A get that never returned is left
// out (it changed nothing); a put that never returned may have taken effect
// at any time after its call. timeout bounds the search (0 = none).
func CheckLinearizable(ops []Op, timeout time.Duration) (Verdict, error) {
	hist := make([]porcupine.Operation, 0, len(ops))
	for i, o := range ops {
		var in kvInput
		switch o.Op {
		case "put":
			in = kvInput{put: true, key: o.Key, value: o.Value}
		case "get":
			if !o.Completed() {
				continue
			}
			in = kvInput{key: o.Key}
		default:
			return Undecided, fmt.Errorf("operation %d: unknown op %q", i, o.Op)
		}
		ret := int64(math.MaxInt64)
		if o.Completed() {
			ret = *o.Return
		}
		hist = append(hist, porcupine.Operation{ClientId: int(o.Client), Input: in, Call: o.Call, Output: o.Output, Return: ret})
	}
	switch porcupine.CheckOperationsTimeout(kvModel, hist, timeout) {
	case porcupine.Ok:
		return Linearizable, nil
	case porcupine.Illegal:
		return NotLinearizable, nil
	}
	return Undecided, nil
}
