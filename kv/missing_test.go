package kv_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
)

// A Get of a key that holds no value says so; an empty value is a value.
func TestGetTellsMissingFromEmpty(t *testing.T) {
	s := kv.NewExecutor(paxos.Config{})
	ex := s.Apply(&paxos.Command{Client: 1, Seq: 1, Op: paxos.OpGet, Key: "k"})
	assert.True(t, ex.Missing)
	assert.Empty(t, ex.Output)
	s.Apply(&paxos.Command{Client: 1, Seq: 2, Op: paxos.OpPut, Key: "k", Value: ""})
	ex = s.Apply(&paxos.Command{Client: 1, Seq: 3, Op: paxos.OpGet, Key: "k"})
	assert.False(t, ex.Missing)
	v, missing := s.Store().Lookup("k")
	assert.Equal(t, "", v)
	assert.False(t, missing)
	_, missing = s.Store().Lookup("other")
	assert.True(t, missing)
}
