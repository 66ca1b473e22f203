// Package protocols registers every consensus variant of the library with
// the paxos registry. Import it for its side effect:
//
//	import _ "github.com/paxos-lab/paxos/protocols"
package protocols

import _ "github.com/paxos-lab/paxos/basic"
import _ "github.com/paxos-lab/paxos/multi"
import _ "github.com/paxos-lab/paxos/flexible"
import _ "github.com/paxos-lab/paxos/epaxos"
import _ "github.com/paxos-lab/paxos/fastpaxos"
import _ "github.com/paxos-lab/paxos/raft"
