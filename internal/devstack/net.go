package devstack

import (
	"fmt"
	"net"
	"time"
)

// portFree fails with an actionable message when addr is taken, before any
// part of the stack starts, so nothing is left half-running.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is already in use: stop what listens there (another worker --dev?) or choose other ports", addr)
	}
	return l.Close()
}

// heldPorts hands out free ports and keeps each one bound until release:
// the server binds them itself only after seconds of set-up, and a port
// let go at once could meanwhile go to another process asking the kernel
// for a free one (two dev stacks starting side by side, as the tests do).
type heldPorts struct{ listeners []net.Listener }

// take returns a free port on ip, held until release.
func (h *heldPorts) take(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	h.listeners = append(h.listeners, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

// release lets the server bind the ports.
func (h *heldPorts) release() {
	for _, l := range h.listeners {
		// Closing a listener nobody accepted on cannot fail in a way
		// that matters: the port is free either way.
		_ = l.Close()
	}
	h.listeners = nil
}

// waitListening waits until addr accepts connections or failed reports an error.
func waitListening(addr string, failed <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-failed:
			return err
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening within 30s", addr)
}
