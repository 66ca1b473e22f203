package jsonpos_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/jsonpos"
)

func TestErrorNamesLineAndColumn(t *testing.T) {
	var v struct{ N int }
	doc := []byte("{\n  \"N\": 1,\n  \"M\" 2\n}")
	err := jsonpos.Error(doc, json.Unmarshal(doc, &v))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3, column 7: ")
	var syn *json.SyntaxError
	assert.ErrorAs(t, err, &syn, "the decoder's error is kept")

	doc = []byte("{\n\"N\": \"x\"}")
	err = jsonpos.Error(doc, json.Unmarshal(doc, &v))
	assert.Contains(t, err.Error(), "line 2, ")

	other := errors.New("other")
	assert.Equal(t, other, jsonpos.Error(nil, other))
	assert.NoError(t, jsonpos.Error(nil, nil))
}
