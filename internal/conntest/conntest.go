// Package conntest holds helpers for tests that exchange data over real
// TCP connections.
package conntest

import (
	"io"
	"net"
)

// RoundTrip writes data to c, half-closes it, and returns everything read
// back until the peer closes; the first error of either direction.
func RoundTrip(c *net.TCPConn, data []byte) ([]byte, error) {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-errc; err == nil {
		err = werr
	}
	return got, err
}
