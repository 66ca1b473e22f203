package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A protocol has one colour and marker whatever else a figure holds, and a
// variant of it is a lighter shade of the same colour.
func TestProtocolStyleIsStable(t *testing.T) {
	a, b := protoColor("zz-first"), protoColor("zz-second")
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, protoColor("zz-first"))
	assert.Equal(t, protoShape("zz-second"), protoShape("zz-second"))
	assert.Equal(t, a, variantColor(a, 0))
	assert.NotEqual(t, a, variantColor(a, 1))
	v := variants{}
	assert.Equal(t, 0, v.index("multi", "multi 0%"))
	assert.Equal(t, 1, v.index("multi", "multi 100%"))
	assert.Equal(t, 0, v.index("epaxos", "epaxos 0%"))
	assert.Equal(t, 1, v.index("multi", "multi 100%"))
}
