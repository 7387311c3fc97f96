package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	apinetv1alpha1 "github.com/ovnet-dev/ovnet/apis/core/v1alpha1"
)

// Veth carries each NetworkInterface on a veth pair: the host end goes into
// br-int, the guest end (the tap device reported in status) is handed to
// the VM. The pair is created in NetNS (a named network namespace, for
// chassis that run in their own namespace) or in the agent's own.
type Veth struct {
	NetNS string
}

// vethHostPrefix starts the name of every host end the agent creates.
const vethHostPrefix = "ovh"

// VethNames are the names of a NIC's veth pair, derived from its UID so
// that they are stable across agent restarts and within the 15-byte limit.
func VethNames(nic *apinetv1alpha1.NetworkInterface) (host, guest string) {
	id := strings.ReplaceAll(string(nic.UID), "-", "")
	if len(id) > 11 {
		id = id[:11]
	}
	return vethHostPrefix + id, "ovg" + id
}

func (v *Veth) handle() (*netlink.Handle, error) {
	if v.NetNS == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromName(v.NetNS)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", v.NetNS, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// Attach creates the pair unless its host end exists. The guest end takes
// the NIC's MAC, which the switch port's port security expects.
func (v *Veth) Attach(_ context.Context, nic *apinetv1alpha1.NetworkInterface) (Device, error) {
	host, guest := VethNames(nic)
	dev := Device{Port: host, Tap: guest}
	h, err := v.handle()
	if err != nil {
		return dev, err
	}
	defer h.Close()
	if _, err := h.LinkByName(host); err == nil {
		return dev, nil
	} else if !isNotFound(err) {
		return dev, fmt.Errorf("look up %s: %w", host, err)
	}
	mac, err := net.ParseMAC(apinetv1alpha1.NetworkInterfaceMAC(nic))
	if err != nil {
		return dev, err
	}
	// A guest end left behind by an earlier half-done attach is in the way.
	if l, err := h.LinkByName(guest); err == nil {
		_ = h.LinkDel(l)
	}
	pair := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MTU: 1500}, PeerName: guest, PeerHardwareAddr: mac}
	if err := h.LinkAdd(pair); err != nil {
		return dev, &DeviceError{Reason: "VethFailed", Err: fmt.Errorf("create veth pair %s/%s: %w", host, guest, err)}
	}
	dev.Created = true
	return dev, nil
}

// Up sets the host end up, and the guest end while it is still here (a VM
// that took it brings it up itself).
func (v *Veth) Up(_ context.Context, dev Device) error {
	h, err := v.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	for _, name := range []string{dev.Port, dev.Tap} {
		l, err := h.LinkByName(name)
		if err != nil {
			if isNotFound(err) && name == dev.Tap {
				continue
			}
			return fmt.Errorf("look up %s: %w", name, err)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			if err := h.LinkSetUp(l); err != nil {
				return fmt.Errorf("set %s up: %w", name, err)
			}
		}
	}
	return nil
}

// Detach deletes the pair (deleting one end deletes both).
func (v *Veth) Detach(_ context.Context, nic *apinetv1alpha1.NetworkInterface) error {
	h, err := v.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	host, guest := VethNames(nic)
	for _, name := range []string{host, guest} {
		l, err := h.LinkByName(name)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("look up %s: %w", name, err)
		}
		if err := h.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	return nil
}

// WatchRemoved reports host ends deleted in the Veth's namespace (deleting
// either end deletes the pair, so the host end's event comes for both).
func (v *Veth) WatchRemoved(ctx context.Context, removed func(port string)) error {
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}}
	if v.NetNS != "" {
		ns, err := netns.GetFromName(v.NetNS)
		if err != nil {
			return fmt.Errorf("network namespace %s: %w", v.NetNS, err)
		}
		defer ns.Close()
		opts.Namespace = &ns
	}
	for ctx.Err() == nil {
		updates := make(chan netlink.LinkUpdate, 64)
		if err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), opts); err != nil {
			return fmt.Errorf("watch links: %w", err)
		}
		// The channel closes when ctx ends or the subscription fails; a
		// failed one is made anew.
		for u := range updates {
			if name := u.Attrs().Name; u.Header.Type == unix.RTM_DELLINK && strings.HasPrefix(name, vethHostPrefix) {
				removed(name)
			}
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}
