package ovn

import (
	"context"
	"fmt"

	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

// OVSTables are the Open_vSwitch tables the node agent uses.
func OVSTables() Tables {
	return Tables{&vswitchd.OpenvSwitch{}, &vswitchd.Bridge{}, &vswitchd.Port{}, &vswitchd.Interface{}}
}

// ConnectOVS connects to a chassis's Open_vSwitch database.
func ConnectOVS(ctx context.Context, cfg Config) (*Client, error) {
	full, err := vswitchd.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("Open_vSwitch model: %w", err)
	}
	return Connect(ctx, cfg, full, OVSTables())
}
