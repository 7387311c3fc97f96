package ovn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	libovsdbclient "github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Config says how to reach an OVSDB database.
type Config struct {
	// Endpoints in OVSDB connection format (tcp:IP:PORT, ssl:IP:PORT,
	// unix:PATH); the first that answers (and, with LeaderOnly, leads) is used.
	Endpoints []string
	// TLS is required for ssl: endpoints.
	TLS *tls.Config
	// LeaderOnly makes the client use only the leader of a raft cluster.
	LeaderOnly bool
	// InactivityProbe is how long the connection may be silent before an
	// echo is sent; an unanswered echo drops and re-establishes the connection.
	InactivityProbe time.Duration
	// TransactTimeout bounds one transaction, waiting for a reconnect included.
	TransactTimeout time.Duration
	// Logger for connection events.
	Logger logr.Logger
	// Metrics receives transaction latency and errors; nil means none.
	Metrics *Metrics
}

// ParseEndpoints splits a comma-separated endpoint list and checks each.
func ParseEndpoints(list string) ([]string, error) {
	var out []string
	for ep := range strings.SplitSeq(list, ",") {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		scheme, rest, ok := strings.Cut(ep, ":")
		if !ok || rest == "" || (scheme != "tcp" && scheme != "ssl" && scheme != "unix") {
			return nil, fmt.Errorf("endpoint %q: want tcp:IP:PORT, ssl:IP:PORT or unix:PATH", ep)
		}
		out = append(out, ep)
	}
	if len(out) == 0 {
		return nil, errors.New("no OVSDB endpoint given")
	}
	return out, nil
}

// LoadTLS builds a client TLS configuration from PEM files: our key and
// certificate, and the CA that signed the server's certificate.
func LoadTLS(keyFile, certFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate found in %s", caFile)
	}
	// OVSDB servers are addressed by IP and their certificates rarely carry
	// it; like ovn-nbctl we check the chain against our CA, not the name.
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		RootCAs:            pool,
		InsecureSkipVerify: true, //nolint:gosec // chain verified in VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, pool)
		},
		MinVersion: tls.VersionTLS12,
	}, nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("parse server certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("server certificate not signed by our CA: %w", err)
	}
	return nil
}

// Client is a connection to one OVSDB database with a cache of the tables
// ovnet uses. It reconnects forever and resynchronises its cache after each
// reconnect.
type Client struct {
	libovsdbclient.Client
	cfg          Config
	transactions atomic.Int64
	batch        batcher
	// named numbers the named UUIDs of inserts: unique across the Applies
	// that share a transaction.
	named atomic.Int64
}

// Tables lists the models a client monitors and caches; nothing else is
// monitored.
type Tables []model.Model

// Connect builds a client for the database of the generated model full,
// caching only the given tables; it connects (retrying until ctx ends) and
// starts monitoring them.
func Connect(ctx context.Context, cfg Config, full model.ClientDBModel, tables Tables) (*Client, error) {
	dbName := full.Name()
	if cfg.InactivityProbe == 0 {
		cfg.InactivityProbe = 30 * time.Second
	}
	if cfg.TransactTimeout == 0 {
		cfg.TransactTimeout = 30 * time.Second
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no OVSDB endpoint given")
	}
	models := map[string]model.Model{}
	indexes := map[string][]model.ClientIndex{}
	for _, m := range tables {
		name, err := tableName(full, m)
		if err != nil {
			return nil, err
		}
		models[name] = m
		if _, ok := fieldsOf(m).byColumn["external_ids"]; ok {
			indexes[name] = []model.ClientIndex{
				{Columns: []model.ColumnKey{{Column: "external_ids", Key: KeyPrimary}}},
				{Columns: []model.ColumnKey{{Column: "external_ids", Key: KeyOwnerUID}}},
				// Rows of an earlier object of the same name (DeleteOthers).
				{Columns: []model.ColumnKey{{Column: "external_ids", Key: KeyOwnerName}}},
			}
		}
	}
	dbModel, err := model.NewClientDBModel(dbName, models)
	if err != nil {
		return nil, fmt.Errorf("%s model: %w", dbName, err)
	}
	dbModel.SetIndexes(indexes)

	// A backoff with no elapsed-time limit: libovsdb panics when its
	// reconnect backoff gives up, so ours never does.
	forever := backoff.NewExponentialBackOff()
	forever.InitialInterval = 100 * time.Millisecond
	forever.MaxInterval = 5 * time.Second
	forever.MaxElapsedTime = 0

	reconnectTimeout := min(cfg.InactivityProbe/2, 10*time.Second)
	logger := cfg.Logger.WithName(dbName)
	opts := []libovsdbclient.Option{
		libovsdbclient.WithLeaderOnly(cfg.LeaderOnly),
		libovsdbclient.WithInactivityCheck(cfg.InactivityProbe, reconnectTimeout, forever),
		libovsdbclient.WithLogger(&logger),
	}
	for _, ep := range cfg.Endpoints {
		opts = append(opts, libovsdbclient.WithEndpoint(ep))
	}
	if cfg.TLS != nil {
		opts = append(opts, libovsdbclient.WithTLSConfig(cfg.TLS))
	}
	cli, err := libovsdbclient.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", dbName, err)
	}

	first := backoff.NewExponentialBackOff()
	first.InitialInterval = 100 * time.Millisecond
	first.MaxInterval = 2 * time.Second
	first.MaxElapsedTime = 0
	err = backoff.Retry(func() error {
		cctx, cancel := context.WithTimeout(ctx, reconnectTimeout)
		defer cancel()
		if err := cli.Connect(cctx); err != nil {
			logger.Info("OVSDB not reachable yet, retrying", "endpoints", cfg.Endpoints, "error", err.Error())
			return err
		}
		return nil
	}, backoff.WithContext(first, ctx))
	if err != nil {
		return nil, fmt.Errorf("connect to %s at %v: %w", dbName, cfg.Endpoints, err)
	}
	if _, err := cli.MonitorAll(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("monitor %s: %w", dbName, err)
	}
	return &Client{Client: cli, cfg: cfg}, nil
}

// Transactions is the number of transactions this client committed.
func (c *Client) Transactions() int64 { return c.transactions.Load() }

// Transact commits ops as one transaction and checks every operation's
// result: libovsdb's Transact returns no error when an operation failed.
func (c *Client) Transact(ctx context.Context, ops ...ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.TransactTimeout)
	defer cancel()
	start := time.Now()
	results, err := c.Client.Transact(ctx, ops...)
	if err == nil {
		var opErrs []ovsdb.OperationError
		if opErrs, err = ovsdb.CheckOperationResults(results, ops); err != nil && len(opErrs) > 0 {
			err = fmt.Errorf("%w: %v", err, opErrs)
		}
	}
	c.transactions.Add(1)
	c.cfg.Metrics.observe(c.Client.Schema().Name, time.Since(start), err)
	if err != nil {
		return nil, fmt.Errorf("transaction of %d operations: %w", len(ops), err)
	}
	return results, nil
}

func tableName(full model.ClientDBModel, m model.Model) (string, error) {
	t := reflect.TypeOf(m)
	for name, typ := range full.Types() {
		if typ == t {
			return name, nil
		}
	}
	return "", fmt.Errorf("model %T is not a table of %s", m, full.Name())
}
