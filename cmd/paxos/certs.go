package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/transport"
)

func init() {
	register("certs", "create a CA and one mutual-TLS certificate per replica and per client of a cluster file", runCerts)
}

func runCerts(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "cluster file (JSON): its replicas' hosts go into their certificates")
	out := fs.String("out", "", "directory for the CA, certificates and keys (created; existing files are not overwritten)")
	clients := fs.Int("clients", 1, "how many client certificates to make (client-0, client-1, ...)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxos certs --config cluster.json --out DIR [--clients N]")
		fmt.Fprintln(stderr, "Writes DIR/ca.pem (and ca.key: keep it offline), DIR/replica-<id>.pem and .key naming each replica's id")
		fmt.Fprintln(stderr, "(URI SAN paxos://replica/<id>, CN replica-<id>) and hosts, and DIR/client-<i>.pem and .key; prints the \"tls\" entry for the cluster file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *config == "" || *out == "" || *clients < 0 || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	c, err := node.LoadCluster(*config)
	if err != nil {
		fmt.Fprintf(stderr, "paxos certs: %v\n", err)
		return exitUsage
	}
	tlsFiles, err := writeCerts(c, *out, *clients)
	if err != nil {
		fmt.Fprintf(stderr, "paxos certs: %v\n", err)
		return exitFail
	}
	entry, _ := json.MarshalIndent(map[string]any{"tls": tlsFiles}, "", "  ")
	fmt.Fprintf(stdout, "paxos certs: wrote a CA, %d replica and %d client certificates to %s\n", c.N(), *clients, *out)
	fmt.Fprintf(stdout, "paxos certs: add this to %s (replicas then accept only peers whose certificate names their id, and clients with a certificate):\n%s\n", *config, entry)
	return exitOK
}

// writeCerts makes dir's CA and certificates for every replica of c and
// n clients, refusing to overwrite any file, and returns the cluster
// file's TLS entry for them (absolute paths).
func writeCerts(c *node.Cluster, dir string, n int) (*node.TLSFiles, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", abs, err)
	}
	path := func(name string) string { return filepath.Join(abs, name) }
	var names []string
	names = append(names, "ca.pem", "ca.key")
	for i := range c.Replicas {
		names = append(names, fmt.Sprintf("replica-%d.pem", i), fmt.Sprintf("replica-%d.key", i))
	}
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("client-%d.pem", i), fmt.Sprintf("client-%d.key", i))
	}
	for _, nm := range names {
		if _, err := os.Stat(path(nm)); err == nil {
			return nil, fmt.Errorf("%s exists; choose another --out directory or remove the old certificates first", path(nm))
		}
	}
	ca, err := transport.NewCA("paxos CA for cluster " + c.Name)
	if err != nil {
		return nil, err
	}
	if err := ca.WriteCA(path("ca.pem"), path("ca.key")); err != nil {
		return nil, err
	}
	for i, r := range c.Replicas {
		hosts := map[string]bool{}
		for _, a := range []string{r.Peer, r.Client} {
			if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
				hosts[h] = true
			}
		}
		var hs []string
		for h := range hosts {
			hs = append(hs, h)
		}
		cert, err := ca.IssueReplica(paxos.NodeID(i), hs)
		if err != nil {
			return nil, err
		}
		id := strconv.Itoa(i)
		if err := transport.WriteCertPEM(cert, path("replica-"+id+".pem"), path("replica-"+id+".key")); err != nil {
			return nil, err
		}
	}
	for i := 0; i < n; i++ {
		id := strconv.Itoa(i)
		cert, err := ca.Issue("client-"+id, nil, nil)
		if err != nil {
			return nil, err
		}
		if err := transport.WriteCertPEM(cert, path("client-"+id+".pem"), path("client-"+id+".key")); err != nil {
			return nil, err
		}
	}
	files := &node.TLSFiles{CA: path("ca.pem"), Cert: path("replica-{id}.pem"), Key: path("replica-{id}.key")}
	if n > 0 {
		files.ClientCert, files.ClientKey = path("client-0.pem"), path("client-0.key")
	}
	return files, nil
}
