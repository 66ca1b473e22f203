package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/transport"
)

func init() {
	register("put", "write KEY=VALUE to a running cluster: paxos put --config FILE KEY VALUE", runPut)
	register("get", "read KEY from a running cluster: paxos get --config FILE KEY", runGet)
}

func runPut(args []string, stdout, stderr io.Writer) int {
	return runClientCmd("put", 2, args, stdout, stderr)
}

func runGet(args []string, stdout, stderr io.Writer) int {
	return runClientCmd("get", 1, args, stdout, stderr)
}

// clientOptions resolves how paxos put/get authenticate: flags first, then
// the cluster file (secret_file, tls), then the client token paxos cluster
// keeps in its data root.
func clientOptions(c *node.Cluster, data, tokenFile, ca, cert, key string) (client.Options, error) {
	o := client.Options{AttemptTimeout: 3 * time.Second}
	var err error
	if tokenFile != "" {
		if o.Token, err = transport.LoadToken(tokenFile); err != nil {
			return o, err
		}
	}
	if ca != "" {
		if o.TLS, err = transport.LoadClientTLS(cert, key, ca); err != nil {
			return o, err
		}
	}
	if o, err = c.ClientOptions(o); err != nil {
		return o, err
	}
	if o.Token == "" && o.TLS == nil && !c.Insecure {
		if data == "" {
			data = filepath.Join("data", c.Name)
		}
		path := filepath.Join(data, clientTokenName)
		if o.Token, err = transport.LoadToken(path); err != nil {
			return o, fmt.Errorf("cluster %s needs a client token and none was found (%w): pass --data DIR as given to paxos cluster, or --token-file", c.Name, err)
		}
	}
	return o, nil
}

func runClientCmd(verb string, nargs int, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("paxos "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "cluster file (JSON) naming every replica's client address")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long (retrying across replicas until then)")
	verbose := fs.Bool("v", false, "also print which replica answered")
	data := fs.String("data", "", "the data root of paxos cluster, where it keeps the client token when the cluster file has no secret (default ./data/<cluster name>)")
	tokenFile := fs.String("token-file", "", "file holding the client token (default: derived from the cluster file's secret_file, else DATA/client.token)")
	tlsCA := fs.String("tls-ca", "", "CA certificate of the client ports (default: the cluster file's tls.ca)")
	tlsCert := fs.String("tls-cert", "", "client certificate (default: the cluster file's tls.client_cert)")
	tlsKey := fs.String("tls-key", "", "client key (default: the cluster file's tls.client_key)")
	usage := "usage: paxos get --config FILE KEY\n\nPrints the value; a key that holds no value prints \"not found\" on stderr and exits 4."
	if verb == "put" {
		usage = "usage: paxos put --config FILE KEY VALUE"
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	// Accept flags after the positional arguments too (paxos put k v --config f).
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *config == "" || len(pos) != nargs {
		fs.Usage()
		return exitUsage
	}
	c, err := node.LoadCluster(*config)
	if err != nil {
		fmt.Fprintf(stderr, "paxos %s: %v\n", verb, err)
		return exitUsage
	}
	if err := everyReplicaRefuses(c.ClientAddrs()); err != nil {
		fmt.Fprintf(stderr, "paxos %s: %v; is the cluster running (paxos cluster --config %s)?\n", verb, err, *config)
		return exitFail
	}
	opts, err := clientOptions(c, *data, *tokenFile, *tlsCA, *tlsCert, *tlsKey)
	if err != nil {
		fmt.Fprintf(stderr, "paxos %s: %v\n", verb, err)
		return exitUsage
	}
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = 3 * time.Second
	}
	cl, err := client.New(c.ClientAddrs(), opts)
	if err != nil {
		fmt.Fprintf(stderr, "paxos %s: %v\n", verb, err)
		return exitFail
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var res client.Result
	if verb == "put" {
		res, err = cl.DoKV(ctx, paxos.OpPut, pos[0], pos[1])
	} else {
		res, err = cl.DoKV(ctx, paxos.OpGet, pos[0], "")
	}
	if err != nil {
		fmt.Fprintf(stderr, "paxos %s: %v; is the cluster running (paxos cluster --config %s)?\n", verb, err, *config)
		return exitFail
	}
	if verb == "get" && res.Missing {
		fmt.Fprintf(stderr, "paxos get: %s: not found\n", pos[0])
		return exitNotFound
	}
	if verb == "get" {
		fmt.Fprintln(stdout, res.Output)
	} else if !*verbose {
		fmt.Fprintln(stdout, "ok")
	}
	if *verbose {
		fmt.Fprintf(stderr, "answered by replica %d after %d attempt(s)\n", res.Replica, res.Attempts)
	}
	return exitOK
}

// everyReplicaRefuses returns an error when a connection to every address
// is refused at once (a stopped cluster), so the command fails now rather
// than retrying until its timeout. Any other outcome (one accepts, one is
// slow to answer) returns nil and the client retries as usual.
func everyReplicaRefuses(addrs []string) error {
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		go func() {
			conn, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				conn.Close()
			}
			errs <- err
		}()
	}
	refused := 0
	for range addrs {
		if err := <-errs; errors.Is(err, syscall.ECONNREFUSED) {
			refused++
		}
	}
	if refused < len(addrs) {
		return nil
	}
	return fmt.Errorf("every replica refused the connection (%s)", strings.Join(addrs, ", "))
}
