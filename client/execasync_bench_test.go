package client_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/proccpu"
)

// echoServer answers every request on its connections at once with an
// empty successful Reply: the least a replica can do, so that a benchmark
// against it measures the client.
func echoServer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tb.Cleanup(func() { c.Close() })
			go echo(c)
		}
	}()
	return ln.Addr().String()
}

func echo(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	frame := make([]byte, 4)
	out := make([]byte, 0, 64)
	for {
		if _, err := io.ReadFull(br, frame[:4]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(frame))
		if cap(frame) < n {
			frame = make([]byte, n)
		}
		frame = frame[:n]
		if _, err := io.ReadFull(br, frame); err != nil {
			return
		}
		// A request starts with its client and seq, as 64-bit integers
		// (paxos.Command.EncodeMsgpack).
		if n < 23 || frame[1] != 0xa1 || frame[2] != 'c' || frame[12] != 0xa1 || frame[13] != 's' {
			return
		}
		// The bytes Reply.EncodeMsgpack writes for a plain success.
		out = append(out[:0], 0, 0, 0, 0, 0x84, 0xa1, 'c')
		out = append(out, frame[3:12]...)
		out = append(out, 0xa1, 's')
		out = append(out, frame[14:23]...)
		out = append(out, 0xa1, 'o', 0xa0, 0xa1, 'r', 0xd2, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		bw.Write(out)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// BenchmarkExecAsync is the client's cost per command under a closed
// loop of 256 commands outstanding on one connection, each completion
// sending the next command from its callback (as paxos bench's load
// generator does), against a server that answers at once. Per op: one
// command's encoding, send, reply decoding and matching, callback.
func BenchmarkExecAsync(b *testing.B) {
	c, err := client.New([]string{echoServer(b)}, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Put(ctx, "warm", "up"); err != nil {
		b.Fatal(err)
	}
	const outstanding = 256
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := b.N
	value := "0123456789abcdef"
	b.ReportAllocs()
	cpu0 := int64(proccpu.Time())
	b.ResetTimer()
	for w := 0; w < outstanding; w++ {
		id := uint64(w + 1)
		prefix := "w" + strconv.Itoa(w) + "-"
		var seq uint64
		var send func()
		done := func(_ client.Result, err error) {
			if err != nil {
				b.Error(err)
			}
			send()
		}
		send = func() {
			mu.Lock()
			if left == 0 {
				mu.Unlock()
				wg.Done()
				return
			}
			left--
			mu.Unlock()
			seq++
			c.ExecAsync(ctx, client.Request{Client: id, Seq: seq, Op: paxos.OpPut, Key: prefix + strconv.FormatUint(seq, 10), Value: value}, done)
		}
		wg.Add(1)
		send()
	}
	wg.Wait()
	b.StopTimer()
	// CPU time, unlike wall time, does not count waiting for a loaded
	// machine's other processes (the echo server's share is included).
	b.ReportMetric(float64(int64(proccpu.Time())-cpu0)/float64(b.N), "cpu-ns/op")
}
