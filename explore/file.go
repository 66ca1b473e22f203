package explore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/jsonpos"
)

// File is a schedule saved for replay: the settings it needs and the
// actions. Walks that start from the archive extend other walks'
// schedules, so a seed alone does not name one; the file does.
type File struct {
	// Protocol is the registered protocol, or Mutant the registered
	// mutant, the schedule ran on.
	Protocol string `json:"protocol,omitempty"`
	Mutant   string `json:"mutant,omitempty"`
	Replicas int    `json:"replicas"`
	Commands int    `json:"commands"`
	TickStep int    `json:"tick_step"`
	Thrifty  bool   `json:"thrifty,omitempty"`
	// Seed seeds the replicas' random sources (Violation.Seed).
	Seed     uint64   `json:"seed"`
	Failures []string `json:"failures,omitempty"`
	Actions  []Action `json:"actions"`
}

type actionJSON struct {
	Kind    string       `json:"kind"`
	Replica paxos.NodeID `json:"replica,omitempty"`
	Command int          `json:"command,omitempty"`
	Outbox  bool         `json:"outbox,omitempty"`
	// Msg is the message as the codec encodes it (base64 in JSON).
	Msg []byte `json:"msg,omitempty"`
}

// MarshalJSON encodes an action; a message goes as its codec bytes.
func (a Action) MarshalJSON() ([]byte, error) {
	j := actionJSON{Kind: a.Kind.String(), Replica: a.Replica, Command: a.Command, Outbox: a.Outbox}
	if a.Kind == Deliver || a.Kind == Drop || a.Kind == Dup {
		j.Msg = []byte(a.key)
		if a.key == "" {
			b, err := paxos.EncodeMessage(a.Msg)
			if err != nil {
				return nil, fmt.Errorf("explore: encode the message of %v: %w", a, err)
			}
			j.Msg = b
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes an action written by MarshalJSON.
func (a *Action) UnmarshalJSON(data []byte) error {
	var j actionJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	k := Kind(0)
	for ; k < numKinds && k.String() != j.Kind; k++ {
	}
	if k == numKinds {
		return fmt.Errorf("explore: unknown action kind %q; want one of %v", j.Kind, kindNames)
	}
	*a = Action{Kind: k, Replica: j.Replica, Command: j.Command, Outbox: j.Outbox}
	if k == Deliver || k == Drop || k == Dup {
		m, err := paxos.DecodeMessage(j.Msg)
		if err != nil {
			return fmt.Errorf("explore: decode the message of a %s action (is the protocol's package imported?): %w", j.Kind, err)
		}
		a.Msg, a.key = m, string(j.Msg)
	}
	return nil
}

// WriteFile writes f as indented JSON.
func WriteFile(w io.Writer, f File) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(f)
}

// ReadFile reads a File written by WriteFile.
func ReadFile(r io.Reader) (File, error) {
	var f File
	data, err := io.ReadAll(r)
	if err != nil {
		return File{}, fmt.Errorf("explore: read schedule file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, fmt.Errorf("explore: read schedule file: %w", jsonpos.Error(data, err))
	}
	if f.Replicas < 1 || f.Commands < 1 || f.TickStep < 1 || (f.Protocol == "") == (f.Mutant == "") {
		return File{}, fmt.Errorf("explore: schedule file needs replicas, commands and tick_step of at least 1, and exactly one of protocol and mutant")
	}
	return f, nil
}
