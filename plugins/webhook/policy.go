package webhook

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// PolicyError is a connection the outbound URL policy refused. It is
// returned from the dialer, after DNS resolution, so a name that resolves
// (or re-resolves) to a private address is refused as well as a literal one.
type PolicyError struct {
	Addr   string
	Reason string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s addresses are not allowed (set allow_private: true on the action, or run in development mode with PARLEY_DEV=1)", e.Addr, e.Reason)
}

// Special-purpose ranges that IsPrivate and friends do not cover.
var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT, shared address space
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// classify returns why addr may not be dialled, or "" if it may.
func classify(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback():
		return "loopback"
	case addr.IsUnspecified(), thisNet.Contains(addr):
		return "unspecified"
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "link-local"
	case addr.IsPrivate(), cgnat.Contains(addr), benchmark.Contains(addr):
		return "private"
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return "multicast"
	case nat64.Contains(addr):
		// The embedded IPv4 address decides.
		b := addr.As16()
		return classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	return ""
}

// dialControl is a net.Dialer Control function enforcing the policy.
func dialControl(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &PolicyError{Addr: address, Reason: "non-TCP (" + network + ")"}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, _, _ := net.SplitHostPort(address)
		return &PolicyError{Addr: address, Reason: fmt.Sprintf("unparsable (%s)", host)}
	}
	if why := classify(ap.Addr()); why != "" {
		return &PolicyError{Addr: address, Reason: why}
	}
	return nil
}
