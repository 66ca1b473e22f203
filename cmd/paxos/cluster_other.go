//go:build !linux

package main

import "syscall"

// childAttr returns the child process attributes; outside Linux, replicas
// share `paxos cluster`'s process group and are not told of its death.
func childAttr() *syscall.SysProcAttr { return nil }
