package bench_test
import ("testing";"fmt";"context";"os";"time"
 "github.com/paxos-lab/paxos"
 "github.com/paxos-lab/paxos/bench"
 _ "github.com/paxos-lab/paxos/protocols")
func TestScratch(t *testing.T){
 fmt.Println(paxos.Protocols())
 s:=bench.DefaultSpec(); s.Protocols=[]string{"basic"}; s.Duration=2*time.Second; s.Warmup=500*time.Millisecond; s.Clients=1
 s.RTT=[][]float64{{0,85,90},{85,0,156},{90,156,0}}; s.Replicas=3; s.Sites=[]string{"VA","CA","EU"}; s.ClientSites=[]int{0}
 st:=time.Now()
 r,err:=bench.Run(context.Background(), s, bench.Options{})
 fmt.Println(err, time.Since(st))
 if err==nil { bench.PrintTable(os.Stdout, r.Summary) }
}
