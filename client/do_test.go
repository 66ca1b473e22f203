package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
)

// echoApp answers an application command: "fail" with the state
// machine's error, anything else with its payload reversed.
type echoApp struct{ seen chan paxos.Command }

func (e echoApp) Submit(_ context.Context, cmd paxos.Command) (paxos.Execution, error) {
	e.seen <- cmd
	if string(cmd.Payload) == "fail" {
		return paxos.Execution{Command: cmd, Err: "no such account"}, nil
	}
	out := []byte(string(cmd.Payload))
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return paxos.Execution{Command: cmd, Output: string(out)}, nil
}

// TestDoCarriesApplicationCommands: Do sends Payload, Keys and ReadOnly
// intact, fills in the client id and sequence number, and returns the state
// machine's error as ErrCommand at once (it is the command's result, so
// the client does not retry it elsewhere).
func TestDoCarriesApplicationCommands(t *testing.T) {
	sub := echoApp{seen: make(chan paxos.Command, 4)}
	other := echoApp{seen: make(chan paxos.Command, 4)}
	cl, err := client.New([]string{serve(t, sub, 0), serve(t, other, 1)}, client.Options{Token: testToken, AttemptTimeout: time.Second})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	res, err := cl.Do(ctx, paxos.Command{Op: paxos.OpApp, Payload: []byte("abc\x00"), Keys: []string{"x", "y"}, ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, "\x00cba", res.Output)
	got := <-sub.seen
	assert.True(t, got.Equal(&paxos.Command{Client: cl.ID(), Seq: 1, Op: paxos.OpApp, Payload: []byte("abc\x00"), Keys: []string{"x", "y"}, ReadOnly: true}), "%+v", got)

	res, err = cl.Do(ctx, paxos.Command{Op: paxos.OpApp, Payload: []byte("fail")})
	require.ErrorIs(t, err, client.ErrCommand)
	assert.Contains(t, err.Error(), "no such account")
	assert.Equal(t, "no such account", res.Err)
	assert.Equal(t, 1, res.Attempts, "a command's own error is not retried")
	assert.Len(t, other.seen, 0)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
