package nodeagent

import (
	"context"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// Device is what carries one NetworkInterface on this node: a host-side
// interface that is plugged into br-int, and what the guest uses.
type Device struct {
	// Port is the host-side interface plugged into br-int (a veth end or a
	// VF representor).
	Port string
	// Tap is the guest end of a veth pair (veth mode).
	Tap string
	// PCI is the VF's address (SR-IOV mode).
	PCI *apinetv1alpha1.PCIAddress
	// Created: this Attach made the device (it did not exist before).
	Created bool
}

// Devices creates and removes the devices that carry NetworkInterfaces.
// Every method is idempotent: the agent calls them on each reconcile and
// after restarts.
type Devices interface {
	// Attach makes sure nic has its device and returns it; the device's
	// port is not up yet.
	Attach(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) (Device, error)
	// Up brings the port up once it is in br-int.
	Up(ctx context.Context, dev Device) error
	// Detach removes nic's device; a device already gone is not an error.
	Detach(ctx context.Context, nic *apinetv1alpha1.NetworkInterface) error
}

// DeviceError is an Attach failure the user must see, with the reason
// reported in the NetworkInterface's Attached condition.
type DeviceError struct {
	Reason string
	Err    error
}

func (e *DeviceError) Error() string { return e.Err.Error() }
func (e *DeviceError) Unwrap() error { return e.Err }

// Watcher is a Devices that notices its devices being removed by someone
// else (a veth deleted by hand), so that the agent puts them back.
type Watcher interface {
	// WatchRemoved calls removed with the port name of each device that
	// disappears, until ctx ends.
	WatchRemoved(ctx context.Context, removed func(port string)) error
}
