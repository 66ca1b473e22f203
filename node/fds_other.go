//go:build !unix

package node

func raiseFDLimit() (uint64, bool) { return 0, false }
