package ovntranslate_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/ovnet-dev/ovnet/devstack"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/nbdb"
	"github.com/ovnet-dev/ovnet/test/testenv"
)

// TestRepairAtStart: rows of a Network that no longer exists (its finalizer
// never ran) are deleted when the controller starts; rows of other tools stay.
func TestRepairAtStart(t *testing.T) {
	env := testenv.Start(t)
	central := devstack.StartCentralT(t)
	nbctl := func(args ...string) string { t.Helper(); return central.NBCtl(t, args...) }
	nbctl("ls-add", "someone-elses-switch")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ovn.ConnectNB(ctx, ovn.Config{Endpoints: []string{central.NBEndpoint()}, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	gone := ovn.Owner{Kind: "Network", Namespace: "default", Name: "gone", UID: "uid-of-a-deleted-network"}
	if _, err := c.Apply(ctx, gone, []ovn.Row{{Key: "uid-of-a-deleted-network/ls", Model: &nbdb.LogicalSwitch{Name: "default/gone"}}}); err != nil {
		t.Fatal(err)
	}
	c.Close()

	start(t, env, central)
	testenv.Eventually(t, 30*time.Second, "rows of the deleted Network removed", func() error {
		if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch", "name=default/gone"); got != "" {
			return errString("still there: " + got)
		}
		return nil
	})
	if got := nbctl("--bare", "--columns=name", "find", "Logical_Switch", "name=someone-elses-switch"); got != "someone-elses-switch" {
		t.Errorf("a switch of another tool was touched: %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
