package devstack

import (
	"os"
	"os/exec"
	"strings"
)

// TB is what the helpers below need of a test (TB has it), so that
// the stack itself does not link Go's testing package.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// StartCentralT starts OVN central in a fresh short directory for one test
// and stops it (and removes the directory) when the test ends.
func StartCentralT(t TB) *Central {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "ovn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c, err := StartCentral(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// NBCtl runs ovn-nbctl against the NB database and returns its trimmed output.
func (c *Central) NBCtl(t TB, args ...string) string {
	t.Helper()
	return c.ctl(t, "ovn-nbctl", c.NBEndpoint(), args...)
}

// SBCtl runs ovn-sbctl against the SB database and returns its trimmed output.
func (c *Central) SBCtl(t TB, args ...string) string {
	t.Helper()
	return c.ctl(t, "ovn-sbctl", c.SBEndpoint(), args...)
}

func (c *Central) ctl(t TB, bin, db string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--db=" + db}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v %s", bin, args, err, out)
	}
	return strings.TrimSpace(string(out))
}
