// Package devstack runs the local ovnet stack used by `make run` and the
// integration suites: a real kube-apiserver with the CRDs, and OVN central
// (NB and SB ovsdb-servers, ovn-northd) in a private run directory.
package devstack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Daemon is a process the stack started; it is killed with its process group.
type Daemon struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(name, logFile string, env []string, bin string, args ...string) (*Daemon, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Own process group, and die with us if we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &Daemon{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(d.done) }()
	return d, nil
}

// Stop ends the daemon: SIGTERM, then SIGKILL after a grace period.
func (d *Daemon) Stop() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// Central is OVN central: NB and SB databases and ovn-northd.
type Central struct {
	Dir      string
	NBSocket string
	SBSocket string
	daemons  []*Daemon
}

// NBEndpoint is the NB database's endpoint for ovnet and ovn-nbctl.
func (c *Central) NBEndpoint() string { return "unix:" + c.NBSocket }

// SBEndpoint is the SB database's endpoint for ovn-controller and ovn-sbctl.
func (c *Central) SBEndpoint() string { return "unix:" + c.SBSocket }

// StartCentral creates fresh NB and SB databases in dir and starts their
// servers and ovn-northd. dir must be short: unix socket paths are limited
// to 108 bytes.
func StartCentral(dir string) (*Central, error) {
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovn-northd"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found: run hack/install-ovn.sh", bin)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &Central{Dir: dir, NBSocket: filepath.Join(dir, "nb.sock"), SBSocket: filepath.Join(dir, "sb.sock")}
	env := []string{"OVN_RUNDIR=" + dir, "OVN_LOGDIR=" + dir, "OVN_DBDIR=" + dir, "OVS_RUNDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_DBDIR=" + dir}
	for _, db := range []struct{ name, schema, sock string }{
		{"nb", filepath.Join(RepoRoot(), "ovn", "schema", "ovn-nb.ovsschema"), c.NBSocket},
		{"sb", "/usr/share/ovn/ovn-sb.ovsschema", c.SBSocket},
	} {
		file := filepath.Join(dir, db.name+".db")
		_ = os.Remove(file)
		if out, err := exec.Command("ovsdb-tool", "create", file, db.schema).CombinedOutput(); err != nil {
			c.Stop()
			return nil, fmt.Errorf("create %s database: %v: %s", db.name, err, out)
		}
		d, err := startDaemon("ovsdb-server-"+db.name, filepath.Join(dir, db.name+".log"), env, "ovsdb-server",
			"--remote=punix:"+db.sock,
			"--unixctl="+filepath.Join(dir, db.name+".ctl"), "-vconsole:off", "-vfile:info", "--log-file="+filepath.Join(dir, db.name+"-server.log"), "--no-chdir", file)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.daemons = append(c.daemons, d)
		if err := waitForFile(db.sock, 10*time.Second); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, args := range [][]string{{"ovn-nbctl", "--db=" + c.NBEndpoint(), "init"}, {"ovn-sbctl", "--db=" + c.SBEndpoint(), "init"}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			c.Stop()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	d, err := startDaemon("ovn-northd", filepath.Join(dir, "northd.log"), env, "ovn-northd",
		"--ovnnb-db="+c.NBEndpoint(), "--ovnsb-db="+c.SBEndpoint(), "--unixctl="+filepath.Join(dir, "northd.ctl"),
		"-vconsole:off", "--log-file="+filepath.Join(dir, "northd-daemon.log"), "--no-chdir")
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.daemons = append(c.daemons, d)
	return c, nil
}

// Stop ends northd and the database servers.
func (c *Central) Stop() {
	for i := len(c.daemons) - 1; i >= 0; i-- {
		c.daemons[i].Stop()
	}
	c.daemons = nil
}

func waitForFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
