// Package limit is the relay's one home for limits per client address: the
// key a client is counted under, a cap on what clients hold at once
// (Slots: caption sockets, monitor streams), and a request rate (Rate:
// WHIP/WHEP offers).
//
// A client is its IPv4 address, or its IPv6 /64: one IPv6 host usually
// holds a whole /64 and can pick a new address from it for every request.
package limit

import (
	"net"
	"net/netip"
)

// Key is the address remote (host:port, or a bare host) is counted under:
// the IPv4 address (IPv4-mapped IPv6 included), or the first address of
// the IPv6 /64. Anything that is not an IP (a Unix socket, a test's made-up
// address) is the zero Addr: all such clients share one count.
func Key(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}
