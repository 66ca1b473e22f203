// Package check decides whether a run of a protocol was correct: it records
// client histories, decides linearizability with porcupine under a
// key-value model partitioned by key, and checks protocol invariants over
// what replicas decided and executed. Run drives one randomized simulation
// with faults and checks it; `paxos check` runs it over many seeds.
package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Op is one client operation of a history, in the JSON-lines format that
// `paxos check --history-dir` writes (one object per line):
//
//	{"client":3,"op":"put","key":"k1","value":"v7","output":"","call":120000,"return":250000}
//
// Call and Return are nanoseconds (virtual in the simulator). Return is nil
// when the operation never completed: it may or may not have taken effect.
type Op struct {
	Client uint64 `json:"client"`
	Op     string `json:"op"` // "get" or "put"
	Key    string `json:"key"`
	Value  string `json:"value"`
	Output string `json:"output"`
	Call   int64  `json:"call"`
	Return *int64 `json:"return"`
}

// Completed reports whether the operation returned.
func (o Op) Completed() bool { return o.Return != nil }

// WriteJSONL writes ops to w, one JSON object per line.
func WriteJSONL(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			return fmt.Errorf("write history: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// WriteFile writes ops to path as JSON lines.
func WriteFile(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := WriteJSONL(f, ops); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	return nil
}

// ReadJSONL parses a history written by WriteJSONL. Errors name the line.
func ReadJSONL(r io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var o Op
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		if o.Op != "get" && o.Op != "put" {
			return nil, fmt.Errorf("history line %d: op %q, want \"get\" or \"put\"", line, o.Op)
		}
		if o.Return != nil && *o.Return < o.Call {
			return nil, fmt.Errorf("history line %d: return %d before call %d", line, *o.Return, o.Call)
		}
		ops = append(ops, o)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return ops, nil
}

// ReadFile reads a JSON-lines history from path.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	ops, err := ReadJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ops, nil
}

// sortByCall orders ops by call time, then client, for stable output.
func sortByCall(ops []Op) {
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].Call != ops[j].Call {
			return ops[i].Call < ops[j].Call
		}
		return ops[i].Client < ops[j].Client
	})
}
