package stack

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// StartCentralT starts OVN central in a fresh short directory for one test
// and stops it (and removes the directory) when the test ends.
func StartCentralT(t testing.TB) *Central {
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
func (c *Central) NBCtl(t testing.TB, args ...string) string {
	t.Helper()
	return c.ctl(t, "ovn-nbctl", c.NBEndpoint(), args...)
}

// SBCtl runs ovn-sbctl against the SB database and returns its trimmed output.
func (c *Central) SBCtl(t testing.TB, args ...string) string {
	t.Helper()
	return c.ctl(t, "ovn-sbctl", c.SBEndpoint(), args...)
}

func (c *Central) ctl(t testing.TB, bin, db string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--db=" + db}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v %s", bin, args, err, out)
	}
	return strings.TrimSpace(string(out))
}
