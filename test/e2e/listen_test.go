package e2e

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ovnet-dev/ovnet/devstack"
)

// peerLog is a TCP and a UDP server on one port inside a network
// namespace (the external host) that records the source address of every
// connection and datagram, and holds TCP connections open until the test
// ends, so that their NAT ports stay in use.
type peerLog struct {
	mu    sync.Mutex
	peers []netip.AddrPort
	conns []net.Conn
}

// listenIn opens the servers in namespace ns: a socket belongs to the
// namespace of the thread that created it.
func listenIn(t *testing.T, ns string, port string) *peerLog {
	t.Helper()
	ln, pc := listenBoth(t, ns, port)
	p := &peerLog{}
	t.Cleanup(func() {
		_ = ln.Close()
		_ = pc.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.peers = append(p.peers, unmapped(c.RemoteAddr().(*net.TCPAddr).AddrPort()))
			p.conns = append(p.conns, c)
			p.mu.Unlock()
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.peers = append(p.peers, unmapped(addr.(*net.UDPAddr).AddrPort()))
			p.mu.Unlock()
		}
	}()
	return p
}

// since returns the peers recorded after the first n.
func (p *peerLog) since(n int) []netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]netip.AddrPort(nil), p.peers[min(n, len(p.peers)):]...)
}

func (p *peerLog) count() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.peers) }

// sourceOf sends one TCP connection or UDP datagram from vm to ip:port (a
// port p listens on) and returns the source p saw.
func (p *peerLog) sourceOf(vm *devstack.VM, proto, ip, port string) (netip.AddrPort, error) {
	n := p.count()
	args := []string{"nc", "-w", "2"}
	if proto == "udp" {
		args = append(args, "-u")
	}
	for range 5 {
		cmd := vm.Command(append(args, ip, port)...)
		cmd.Stdin = strings.NewReader("hello\n")
		_ = cmd.Run()
		if got := p.since(n); len(got) > 0 {
			return got[0], nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("%s from %s to %s: nothing arrived", proto, vm.NetNS, net.JoinHostPort(ip, port))
}

// inNamespace runs fn with the calling goroutine's thread in namespace ns
// (sockets opened by fn stay in ns).
func inNamespace(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	fn()
	if err := netns.Set(orig); err != nil {
		panic("cannot return to the test's network namespace: " + err.Error())
	}
}

// serveName answers every TCP connection and UDP datagram on port inside
// namespace ns with name: a backend that says who it is. stop closes it
// (the test's end does too).
func serveName(t *testing.T, ns, port, name string) (stop func()) {
	t.Helper()
	ln, pc := listenBoth(t, ns, port)
	stop = func() { _ = ln.Close(); _ = pc.Close() }
	t.Cleanup(stop)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go answer(c, name)
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name+"\n"), addr)
		}
	}()
	return stop
}

// answer reads the client's request, answers name and closes. Closing a
// socket with unread data resets the connection, and a reset can discard
// the answer before the client has read it: so the request is read first,
// and the close waits for the client's.
func answer(c net.Conn, name string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	_, _ = c.Read(buf)
	if _, err := c.Write([]byte(name + "\n")); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, c)
}

// unmapped is an IPv4 peer as IPv4: the dual-stack sockets of listenBoth
// see IPv4 clients as ::ffff:a.b.c.d.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// listenBoth opens a TCP listener and a UDP socket on port in namespace ns,
// for IPv4 and IPv6.
func listenBoth(t *testing.T, ns, port string) (net.Listener, net.PacketConn) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	var lerr, perr error
	inNamespace(t, ns, func() {
		ln, lerr = net.Listen("tcp", ":"+port)
		pc, perr = net.ListenPacket("udp", ":"+port)
	})
	if lerr != nil || perr != nil {
		t.Fatalf("listen in %s: %v %v", ns, lerr, perr)
	}
	return ln, pc
}

// publicSourceOf is sourceOf over TCP for a NIC with public IP public on
// chassis node. When nothing arrives it says why before the test fails
// (this has failed now and then, and what the failure leaves behind does
// not say why): one more try with the external host's and the chassis's
// provider interfaces captured, the external host's neighbour entries,
// the logical flows that name the public IP and the chassis's connection
// tracking entries of it.
func (e *env) publicSourceOf(peers *peerLog, vm *devstack.VM, node, public, ip string) (netip.AddrPort, error) {
	e.t.Helper()
	got, err := peers.sourceOf(vm, "tcp", ip, "9001")
	if err == nil {
		return got, nil
	}
	ch := e.chassis(node)
	ext := capture(e.t, e.s.Layout.External, "eth0", "arp or host "+public)
	prov := capture(e.t, ch.NetNS, "pv0", "arp or host "+public)
	late, lateErr := peers.sourceOf(vm, "tcp", ip, "9001")
	e.t.Logf("public IP %s: nothing arrived in 5 tries; 5 more: %v (%v)\n$ tcpdump on the external host's eth0\n%s\n$ tcpdump on %s's pv0\n%s",
		public, late, lateErr, ext(), node, prov())
	for _, args := range [][]string{
		{"ip", "-n", e.s.Layout.External, "neigh", "show"},
		{"sh", "-c", "ovn-sbctl --db=" + e.s.Central.SBEndpoint() + " lflow-list | grep -F -- " + public},
		{"sh", "-c", "ovs-appctl -t " + filepath.Join(ch.Dir, "vswitchd.ctl") + " dpctl/dump-conntrack | grep -F -- " + public},
	} {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		e.t.Logf("$ %s\n%s", strings.Join(args, " "), out)
	}
	return got, err
}
