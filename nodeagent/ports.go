package nodeagent

import (
	"fmt"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
	"github.com/ovnet-dev/ovnet/ovn"
	"github.com/ovnet-dev/ovnet/ovn/vswitchd"
)

// PortRows are the Open_vSwitch rows that plug dev into bridge for nic: a
// Port listing one Interface whose external_ids:iface-id is the NIC's
// logical switch port, which ovn-controller binds to this chassis.
func PortRows(nic *apinetv1alpha1.NetworkInterface, dev Device, bridge string) []ovn.Row {
	uid := string(nic.UID)
	return []ovn.Row{
		{
			Key:   uid + "/port",
			Model: &vswitchd.Port{Name: dev.Port},
			Parents: []ovn.Parent{{
				Table: vswitchd.BridgeTable, Column: "ports", Name: bridge,
			}},
		},
		{
			Key:   uid + "/interface",
			Model: &vswitchd.Interface{Name: dev.Port},
			Extra: map[string]string{
				"iface-id":     apinetv1alpha1.NetworkInterfacePortName(nic),
				"attached-mac": apinetv1alpha1.NetworkInterfaceMAC(nic),
				"iface-status": "active",
			},
			Parents: []ovn.Parent{{Table: vswitchd.PortTable, Column: "interfaces", Key: uid + "/port"}},
		},
	}
}

// OwnerOf is the ownership of a NIC's Open_vSwitch rows.
func OwnerOf(nic *apinetv1alpha1.NetworkInterface) ovn.Owner {
	return ovn.Owner{Kind: "NetworkInterface", Namespace: nic.Namespace, Name: nic.Name, UID: string(nic.UID)}
}

// installed reports whether ovn-controller has bound the NIC's interface
// on this chassis and installed its flows.
func installed(ovs *ovn.Client, nic *apinetv1alpha1.NetworkInterface) (bool, error) {
	if m := ovs.ByKey(vswitchd.InterfaceTable, string(nic.UID)+"/interface"); m != nil {
		return m.(*vswitchd.Interface).ExternalIDs["ovn-installed"] == "true", nil
	}
	return false, fmt.Errorf("interface of %s/%s is not in the Open_vSwitch database", nic.Namespace, nic.Name)
}
