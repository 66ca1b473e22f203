package main

import "syscall"

// childAttr puts a replica in its own process group (a terminal's Ctrl-C
// reaches only `paxos cluster`, which stops the replicas in order) and has
// the kernel send it SIGTERM should `paxos cluster` die, so no replica
// outlives it holding its ports.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
