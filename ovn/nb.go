package ovn

import (
	"context"
	"fmt"

	"github.com/ovnet-dev/ovnet/ovn/nbdb"
)

// NBTables are the northbound tables ovnet reads and writes; only these are
// monitored and cached.
func NBTables() Tables {
	return Tables{
		&nbdb.LogicalSwitch{}, &nbdb.LogicalSwitchPort{},
		&nbdb.LogicalRouter{}, &nbdb.LogicalRouterPort{}, &nbdb.GatewayChassis{},
		&nbdb.LogicalRouterStaticRoute{}, &nbdb.NAT{},
		&nbdb.LoadBalancer{}, &nbdb.LoadBalancerHealthCheck{},
		&nbdb.ACL{}, &nbdb.PortGroup{}, &nbdb.AddressSet{},
		&nbdb.DHCPOptions{},
	}
}

// ConnectNB connects to the OVN northbound database.
func ConnectNB(ctx context.Context, cfg Config) (*Client, error) {
	full, err := nbdb.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("northbound model: %w", err)
	}
	return Connect(ctx, cfg, full, NBTables())
}
