// Package ovntest starts OVSDB servers for tests: real ovsdb-server processes
// from Debian's OVN/OVS packages (hack/install-ovn.sh installs them) and
// libovsdb's in-memory server for fast unit tests.
package ovntest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"
)

// SchemaDir is the directory of the schema files kept in the repository.
func SchemaDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "schema")
}

// Server is a real ovsdb-server serving one database on a unix socket.
type Server struct {
	t      testing.TB
	dir    string
	db     string
	Socket string
	extra  []string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Pause stops the server process without closing its connections (SIGSTOP),
// as a hung server would; Resume continues it.
func (s *Server) Pause()  { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }
func (s *Server) Resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// Endpoint is the server's endpoint in OVSDB connection format.
func (s *Server) Endpoint() string { return "unix:" + s.Socket }

// StartServer creates a database from the repository's schema file (e.g.
// "ovn-nb.ovsschema") and serves it; the server stops when the test ends.
func StartServer(t testing.TB, schemaFile string) *Server {
	t.Helper()
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: run hack/install-ovn.sh (make test does)", bin)
		}
	}
	// Unix socket paths must stay under 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("/tmp", "ovsdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &Server{t: t, dir: dir, db: filepath.Join(dir, "db"), Socket: filepath.Join(dir, "sock")}
	if out, err := exec.Command("ovsdb-tool", "create", s.db, filepath.Join(SchemaDir(), schemaFile)).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// StartTLSServer is StartServer with an ssl listener on 127.0.0.1 using the
// given PEM files; it returns the ssl endpoint too.
func StartTLSServer(t testing.TB, schemaFile, key, cert, ca string) (*Server, string) {
	t.Helper()
	s := StartServer(t, schemaFile)
	port := freePort(t)
	endpoint := fmt.Sprintf("ssl:127.0.0.1:%d", port)
	s.Stop()
	// Passive remotes put the port first: pssl:PORT:IP.
	s.extra = []string{fmt.Sprintf("--remote=pssl:%d:127.0.0.1", port), "--private-key=" + key, "--certificate=" + cert, "--ca-cert=" + ca}
	s.Start()
	waitFor(t, func() bool { return s.run("ovsdb-client", "list-dbs", "unix:"+s.Socket) == nil })
	return s, endpoint
}

// Start (re)starts the server on the same database file and socket.
func (s *Server) Start() {
	s.t.Helper()
	_ = os.Remove(s.Socket)
	args := append([]string{
		"--remote=punix:" + s.Socket,
		"--unixctl=" + filepath.Join(s.dir, "ctl"),
		"--log-file=" + filepath.Join(s.dir, "log"),
		"-vconsole:off", "--no-chdir",
	}, s.extra...)
	args = append(args, s.db)
	s.cmd = exec.Command("ovsdb-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start ovsdb-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	waitFor(s.t, func() bool { _, err := os.Stat(s.Socket); return err == nil })
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies only once continued
	<-s.done
	s.cmd = nil
}

// NBCtl runs ovn-nbctl against the server and returns its output.
func (s *Server) NBCtl(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("ovn-nbctl", append([]string{"--db=" + s.Endpoint(), "--no-leader-only"}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("ovn-nbctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (s *Server) run(bin string, args ...string) error {
	return exec.Command(bin, args...).Run()
}

// StartInMemory serves the database of the generated model full from
// libovsdb's in-memory server (no external processes) and returns its endpoint.
func StartInMemory(t testing.TB, full model.ClientDBModel, schema ovsdb.DatabaseSchema) string {
	t.Helper()
	logger := logr.Discard()
	db := inmemory.NewDatabase(map[string]model.ClientDBModel{schema.Name: full}, &logger)
	dbModel, errs := model.NewDatabaseModel(schema, full)
	if len(errs) > 0 {
		t.Fatalf("database model: %v", errs)
	}
	srv, err := server.NewOvsdbServer(db, &logger, dbModel)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "ovsdbmem")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	go func() { _ = srv.Serve("unix", sock) }()
	t.Cleanup(func() { srv.Close(); _ = os.RemoveAll(dir) })
	waitFor(t, srv.Ready)
	return "unix:" + sock
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the OVSDB server")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
