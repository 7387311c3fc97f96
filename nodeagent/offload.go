package nodeagent

import (
	"context"
	"fmt"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

// EnableHWOffload sets other_config:hw-offload=true on the Open_vSwitch
// row, so that ovs-vswitchd offloads flows of VF representors to the NIC.
// It reports whether the setting changed: ovs-vswitchd reads it only when
// it starts, so a change needs a restart of ovs-vswitchd.
func EnableHWOffload(ctx context.Context, ovs *ovn.Client) (bool, error) {
	rows := ovs.Cache().Table(vswitchd.OpenvSwitchTable).Rows()
	if len(rows) != 1 {
		return false, fmt.Errorf("the Open_vSwitch table has %d rows, want 1", len(rows))
	}
	var root *vswitchd.OpenvSwitch
	for _, m := range rows {
		root = m.(*vswitchd.OpenvSwitch)
	}
	if root.OtherConfig["hw-offload"] == "true" {
		return false, nil
	}
	del, err := ovsdb.NewOvsSet([]string{"hw-offload"})
	if err != nil {
		return false, err
	}
	ins, err := ovsdb.NewOvsMap(map[string]string{"hw-offload": "true"})
	if err != nil {
		return false, err
	}
	_, err = ovs.Transact(ctx, ovsdb.Operation{
		Op: ovsdb.OperationMutate, Table: vswitchd.OpenvSwitchTable,
		Where: []ovsdb.Condition{{Column: "_uuid", Function: ovsdb.ConditionEqual, Value: ovsdb.UUID{GoUUID: root.UUID}}},
		Mutations: []ovsdb.Mutation{
			{Column: "other_config", Mutator: ovsdb.MutateOperationDelete, Value: del},
			{Column: "other_config", Mutator: ovsdb.MutateOperationInsert, Value: ins},
		},
	})
	if err != nil {
		return false, fmt.Errorf("set other_config:hw-offload=true: %w", err)
	}
	return true, nil
}
