package ovntest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Cluster is a three-server raft cluster of one database.
type Cluster struct {
	t       testing.TB
	Servers []*Server
	dbName  string
}

// StartCluster creates and starts a three-server raft cluster of the
// database of schemaFile; each server also listens on its own unix socket.
func StartCluster(t testing.TB, schemaFile, dbName string) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "raft")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &Cluster{t: t, dbName: dbName}
	raft := make([]string, 3)
	for i := range raft {
		raft[i] = fmt.Sprintf("tcp:127.0.0.1:%d", freePort(t))
	}
	for i := range 3 {
		sdir := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := &Server{t: t, dir: sdir, db: filepath.Join(sdir, "db"), Socket: filepath.Join(sdir, "sock")}
		var args []string
		if i == 0 {
			args = []string{"create-cluster", s.db, filepath.Join(SchemaDir(), schemaFile), raft[0]}
		} else {
			args = []string{"join-cluster", s.db, dbName, raft[i], raft[0]}
		}
		if out, err := exec.Command("ovsdb-tool", args...).CombinedOutput(); err != nil {
			t.Fatalf("ovsdb-tool %s: %v: %s", strings.Join(args, " "), err, out)
		}
		s.Start()
		t.Cleanup(s.Stop)
		c.Servers = append(c.Servers, s)
	}
	waitForLong(t, 30*time.Second, func() bool { return c.Leader() >= 0 && c.allMembers() })
	return c
}

// Leader is the index of the server that is leader, or -1.
func (c *Cluster) Leader() int {
	for i, s := range c.Servers {
		if s.cmd != nil && strings.Contains(c.status(s), "Role: leader") {
			return i
		}
	}
	return -1
}

func (c *Cluster) allMembers() bool {
	for _, s := range c.Servers {
		if !strings.Contains(c.status(s), "Status: cluster member") {
			return false
		}
	}
	return true
}

func (c *Cluster) status(s *Server) string {
	out, _ := exec.Command("ovs-appctl", "-t", filepath.Join(s.dir, "ctl"), "cluster/status", c.dbName).CombinedOutput()
	return string(out)
}

// WaitLeader waits until some server leads and returns its index.
func (c *Cluster) WaitLeader() int {
	waitForLong(c.t, 30*time.Second, func() bool { return c.Leader() >= 0 })
	return c.Leader()
}

func waitForLong(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the raft cluster")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
