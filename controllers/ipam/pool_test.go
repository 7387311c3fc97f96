package ipam

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParsePrefixesKeepsOrder(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/29,10.0.1.0/29", "fdef:273d:a18c:ca25::/64"})
	if err != nil {
		t.Fatal(err)
	}
	pool := NewIPPool(got)
	v4 := pool.Prefixes(corev1.IPv4Protocol)
	if len(v4) != 2 || v4[0].String() != "10.0.0.0/29" || v4[1].String() != "10.0.1.0/29" {
		t.Fatalf("IPv4 prefixes = %v", v4)
	}
	if v6 := pool.Prefixes(corev1.IPv6Protocol); len(v6) != 1 {
		t.Fatalf("IPv6 prefixes = %v", v6)
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("bad prefix accepted")
	}
}

// A /29 yields its 8 addresses (network and broadcast included), each once,
// the first prefix before the second, and then nothing.
func TestIPPoolWalksEveryAddressOnce(t *testing.T) {
	prefixes, _ := ParsePrefixes([]string{"10.0.0.0/29,10.0.1.0/30"})
	pool := NewIPPool(prefixes)
	if pool.Full(corev1.IPv4Protocol) {
		t.Fatal("an empty pool is Full")
	}
	seen := map[netip.Addr]bool{}
	var order []netip.Addr
	for range 12 {
		ok, err := pool.Candidates(corev1.IPv4Protocol, func(a netip.Addr) (bool, error) {
			if seen[a] {
				t.Fatalf("%s offered twice", a)
			}
			seen[a] = true
			order = append(order, a)
			pool.MarkTaken(a)
			return true, nil
		})
		if err != nil || !ok {
			t.Fatalf("allocation %d failed: %v %v", len(order), ok, err)
		}
	}
	if !pool.Full(corev1.IPv4Protocol) {
		t.Error("Full = false once all 12 addresses are taken")
	}
	pool.MarkFree(order[3])
	if pool.Full(corev1.IPv4Protocol) {
		t.Error("Full = true with an address freed")
	}
	pool.MarkTaken(order[3])
	for i, a := range order {
		want := "10.0.0.0/29"
		if i >= 8 {
			want = "10.0.1.0/30"
		}
		if !netip.MustParsePrefix(want).Contains(a) {
			t.Errorf("allocation %d = %s, want from %s", i, a, want)
		}
	}
	if ok, _ := pool.Candidates(corev1.IPv4Protocol, func(netip.Addr) (bool, error) { return true, nil }); ok {
		t.Fatal("full pool offered an address")
	}
	if ok, _ := pool.Candidates(corev1.IPv6Protocol, func(netip.Addr) (bool, error) { return true, nil }); ok {
		t.Fatal("a family without prefixes offered an address")
	}
}

// A refused candidate (taken behind our back) is skipped for the next one.
func TestIPPoolSkipsRefused(t *testing.T) {
	prefixes, _ := ParsePrefixes([]string{"10.0.0.0/30"})
	pool := NewIPPool(prefixes)
	tries := 0
	ok, _ := pool.Candidates(corev1.IPv4Protocol, func(netip.Addr) (bool, error) { tries++; return tries == 3, nil })
	if !ok || tries != 3 {
		t.Fatalf("ok=%v after %d tries, want success on the 3rd", ok, tries)
	}
	if pool.Used(prefixes[0]) != 2 {
		t.Fatalf("refused candidates not remembered: used %d", pool.Used(prefixes[0]))
	}
}

func TestIDPool(t *testing.T) {
	if _, err := NewIDPool(10, 10); err == nil {
		t.Fatal("min == max accepted")
	}
	p, _ := NewIDPool(200, 203)
	got := map[int64]bool{}
	for range 4 {
		ok, _ := p.Candidates(func(id int64) (bool, error) {
			if got[id] || !p.Contains(id) {
				t.Fatalf("bad id %d", id)
			}
			got[id] = true
			p.MarkTaken(id)
			return true, nil
		})
		if !ok {
			t.Fatal("range exhausted early")
		}
	}
	if ok, _ := p.Candidates(func(int64) (bool, error) { return true, nil }); ok {
		t.Fatal("full range offered an id")
	}
}
